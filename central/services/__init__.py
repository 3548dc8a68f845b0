"""Business logic of the central service: pure Python over the store, no gRPC types."""
