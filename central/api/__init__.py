"""The gRPC edge of the central service: servicers, the auth interceptor, error mapping."""
