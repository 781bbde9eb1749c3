"""Generated protobuf package. DO NOT MODIFY, use `make protos` to update."""
