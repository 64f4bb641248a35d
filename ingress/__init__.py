"""The HTTP edge: validates and authenticates requests and hands commands to the stream."""
