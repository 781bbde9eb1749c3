"""Gateway: the HTTP server browsers talk to; translates JSON and sendBeacon calls into gRPC."""
