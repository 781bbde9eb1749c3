import grpc, uuid
from google.protobuf import struct_pb2, timestamp_pb2
from configtrail.common.v1 import events_pb2
from configtrail.ingest.v1 import ingest_pb2

async def test_probe(ingest, sync, pg_pool):
    for depth in (40, 45, 47, 48, 49, 50):
        deep = struct_pb2.Struct(); cur = deep
        for i in range(depth):
            cur = cur.fields["a"].struct_value
        cur.fields["x"].number_value = 1
        try:
            ev = events_pb2.InteractionEvent(session_id="s4", event_type=1)
            ev.additional_data.CopyFrom(deep)
            req = ingest_pb2.TrackInteractionRequest(event=ev)
        except Exception as e:
            print(depth, "client", e); continue
        try:
            r = await ingest.TrackInteraction(req)
            print(depth, "deep ok")
        except grpc.aio.AioRpcError as e:
            print(depth, "deep", e.code(), e.details())
