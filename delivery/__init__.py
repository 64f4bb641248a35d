"""The brokers that carry messages to customers: one module per broker, each a domain.delivery.Delivery."""
