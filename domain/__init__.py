"""The contract the ingress and the workers share: commands, storage, settings, errors and key names."""
