"""The FastStream workers: apply commands from the stream to storage and fan snapshots out."""
