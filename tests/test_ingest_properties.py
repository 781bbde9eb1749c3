import grpc
from configtrail.ingest.v1 import ingest_pb2


async def test_probe(ingest, ingest_server):
    for depth in range(30, 45):
        req = ingest_pb2.TrackInteractionRequest()
        req.event.session_id = "s4"
        req.event.event_type = 1
        cur = req.event.additional_data
        for i in range(depth):
            cur = cur.fields["a"].struct_value
        cur.fields["x"].number_value = 1
        try:
            r = await ingest.TrackInteraction(req)
            print(depth, "deep ok")
        except grpc.aio.AioRpcError as e:
            print(depth, "deep", e.code(), e.details()[:80])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest_server.port}") as ch:
        call = ch.unary_unary(
            "/configtrail.ingest.v1.Ingest/TrackInteraction",
            request_serializer=None,
            response_deserializer=None,
        )
        for raw in [b"\xff\xff\xff", b"\x0a\x03\x12\x01\xff", b"\x0a\x05\x12\x03\xc3\x28a"]:
            try:
                print(raw, await call(raw))
            except grpc.aio.AioRpcError as e:
                print(raw, e.code(), e.details()[:120])
