import grpc
from configtrail.ingest.v1 import ingest_pb2

async def test_probe(ingest):
    for depth in range(44, 52):
        req = ingest_pb2.TrackInteractionRequest()
        req.event.session_id = "s4"; req.event.event_type = 1
        cur = req.event.additional_data
        for i in range(depth):
            cur = cur.fields["a"].struct_value
        cur.fields["x"].number_value = 1
        try:
            r = await ingest.TrackInteraction(req)
            print(depth, "deep ok")
        except grpc.aio.AioRpcError as e:
            print(depth, "deep", e.code(), e.details())
        except Exception as e:
            print(depth, "client", type(e), e)
