"""The southbound protocol: the only part of `alcor.southbound` a host agent imports.

Why a package of its own (DESIGN §3): agents depend on the wire contract, never on the server
side, so nothing here imports SQLAlchemy, the store or the resources; only protobuf, asyncio
and nats-py. `goalstate.proto` is the contract, `goalstate_pb2` its generated code (pinned with
the protobuf runtime), `subjects` the NATS address book, `chunks` splitting and reassembling
large messages, `seqstream` the seq/prev_seq rules every consumer follows.

Regenerate the code after changing the proto (from the repository root):
    python -m grpc_tools.protoc -I alcor/southbound/protocol \\
        --python_out=alcor/southbound/protocol --pyi_out=alcor/southbound/protocol goalstate.proto
"""
