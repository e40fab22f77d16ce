#!/usr/bin/env python3
"""WebSocket frame fuzzer for the chat API (run by ./infra/fuzz; docs/fuzzing.md).

    ws_fuzz.py fuzz --url ws://127.0.0.1:3001 --token JWT --conversation ID
                    [--foreign-conversation ID] [--peer-token JWT] [--frames N] [--seed N]
    ws_fuzz.py hold --url ws://127.0.0.1:3001 --token JWT

`fuzz` checks the handshake refusals (no token, bad tokens, a bad, unknown or foreign
conversation_id), then connects with the token (registered on the conversation) and sends N
frames built from a seeded random generator: text that is not JSON, JSON that is not an object,
wrong types, huge strings (frames stay under API Gateway's 32 KB), unknown actions, missing and
invalid fields, nested garbage, binary frames, valid frames and idempotent replays. Frames go
one at a time; each must get the answer the contract documents: an error frame
`{"type":"error","error":{"message","status"}}` with the expected 4xx status for a refused
frame, the documented reply for a valid one. Every frame the server sends must match the `Ws*`
schemas of openapi.yaml. After each batch a `{"action":"whoami"}` must still be answered on the
same socket. With --peer-token, the other participant's socket must get every new message once
(never a replay) and every typing frame. Exits 1 on any failure, 2 when the API cannot be
reached; prints one summary line.

`hold` opens a connection, prints its id (from `whoami`) and keeps it open, reading and
discarding frames, until it is terminated: schemathesis then has a live connection id to
register with the connect route.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import string
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import jsonschema
import websockets
import yaml

ROOT = Path(__file__).resolve().parents[2]
FRAME_LIMIT = 32_000  # API Gateway closes the socket on frames over 32 KB.
ACTIONS = ("whoami", "subscribe", "sendMessage", "typing", "ping")
PUSHED = ("message", "typing", "ai_delta")  # frames that may arrive at any time


class Failure(Exception):
    pass


class Timeout(Failure):
    pass


QUIET_SECONDS = 1.0  # the one fixed wait: for frames that must not come (duplicates, echoes)


# ---------------------------------------------------------------------------------------------
# Schemas: the Ws* schemas of openapi.yaml.


def server_frame_validator() -> jsonschema.protocols.Validator:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    schema = {"$ref": "#/components/schemas/WsServerFrame", "components": spec["components"]}
    cls = jsonschema.validators.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


# ---------------------------------------------------------------------------------------------
# Frames. Each case is (label, payload, expectation); payload is str (a text frame) or bytes (a
# binary frame); expectation is ("error", {statuses}), ("reply", type) or ("none", None).


class Generator:
    def __init__(self, rng: random.Random, conversation: str, foreign: str | None):
        self.rng = rng
        self.conversation = conversation
        # A conversation that exists but is not the caller's (404, like an unknown one).
        self.foreign = foreign
        # (client_message_id, text) of the idempotent sends so far, to replay.
        self.sent: list[tuple[str, str, str]] = []  # (client_message_id, text, message_id) answered

    def text(self, n: int, alphabet: str | None = None) -> str:
        if alphabet is None:
            # Printable ASCII, some Latin-1, some astral characters, some controls.
            pool = string.printable + "éß€漢字\u2028\u00a0\t\x00\x1f" + "\U0001f600"
            return "".join(self.rng.choice(pool) for _ in range(n))
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def junk_value(self, depth: int = 0):
        kind = self.rng.randrange(9 if depth < 4 else 6)
        if kind == 0:
            return None
        if kind == 1:
            return self.rng.choice([True, False])
        if kind == 2:
            return self.rng.randint(-(2**63), 2**64)
        if kind == 3:
            return self.rng.choice([0.5, -1e308, 1e-320, 3.141592653589793])
        if kind in (4, 5):
            return self.text(self.rng.randint(0, 40))
        if kind == 6:
            return [self.junk_value(depth + 1) for _ in range(self.rng.randint(0, 4))]
        return {self.text(self.rng.randint(0, 8)): self.junk_value(depth + 1) for _ in range(self.rng.randint(0, 4))}

    def not_uuid(self):
        some = self.random_uuid()
        return self.rng.choice(
            [
                "",
                "not-a-uuid",
                some.replace("-", ""),
                some[:-1],
                some + "0",
                "{" + some + "}",
                "urn:uuid:" + some,
                "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
                5,
                True,
                None,
                [some],
                {"id": some},
            ]
        )

    def random_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def case(self):
        makers = [
            self.not_json,
            self.not_an_object,
            self.action_wrong_type,
            self.no_action,
            self.unknown_action,
            self.missing_field,
            self.invalid_field,
            self.huge,
            self.nested,
            self.binary,
            self.valid,
            self.refused,
            self.replay,
        ]
        return self.rng.choice(makers)()

    def not_json(self):
        fixed = [
            "",
            " ",
            "{",
            "}",
            "{action: whoami}",
            "{'action': 'whoami'}",
            '{"action": "whoami"',
            '{"action": "whoami"}}',
            '{"action": "whoami",}',
            "action=whoami",
            "NaN",
            "\x00",
            '{"action": "\\ud800"}',  # a lone surrogate: JSON to some parsers, never a valid action
        ]
        if self.rng.random() < 0.5:
            return ("not JSON", self.rng.choice(fixed), ("error", {400}))
        payload = self.text(self.rng.randint(1, 200))
        try:
            json.loads(payload)
            payload = "{" + payload  # make sure it is not JSON after all
        except ValueError:
            pass
        return ("not JSON", payload, ("error", {400}))

    def not_an_object(self):
        value = self.rng.choice(
            [
                [],
                [{"action": "whoami"}],
                "whoami",
                42,
                -0.0,
                True,
                None,
                [self.junk_value() for _ in range(3)],
            ]
        )
        return ("JSON but not an object", json.dumps(value), ("error", {400}))

    def action_wrong_type(self):
        value = self.rng.choice([None, 1, 0.0, True, [], ["whoami"], {"action": "whoami"}, self.junk_value()])
        if isinstance(value, str):
            value = [value]
        return ("action of the wrong type", json.dumps({"action": value}), ("error", {400}))

    def no_action(self):
        body = {self.text(5, string.ascii_letters): self.junk_value() for _ in range(self.rng.randint(0, 3))}
        body.pop("action", None)
        body["conversation_id"] = self.conversation
        return ("no action", json.dumps(body), ("error", {400}))

    def unknown_action(self):
        action = self.rng.choice(
            [
                "",
                "WHOAMI",
                "whoami ",
                " whoami",
                "send_message",
                "sendmessage",
                "$default",
                "$connect",
                "$disconnect",
                "subscribe\x00",
                self.text(self.rng.randint(1, 30)),
            ]
        )
        if action in ACTIONS:
            action += "?"
        return ("unknown action", json.dumps({"action": action, "conversation_id": self.conversation}), ("error", {400}))

    def missing_field(self):
        frame = self.rng.choice(
            [
                {"action": "subscribe"},
                {"action": "typing"},
                {"action": "sendMessage"},
                {"action": "sendMessage", "conversation_id": self.conversation},
                {"action": "sendMessage", "message": "hello"},
            ]
        )
        return ("missing field", json.dumps(frame), ("error", {400}))

    def invalid_field(self):
        action = self.rng.choice(["subscribe", "typing", "sendMessage"])
        frame = {"action": action, "conversation_id": self.conversation, "message": "hello"}
        broken = self.rng.choice(["conversation_id", "message", "client_message_id"] if action == "sendMessage" else ["conversation_id"])
        if broken == "message":
            frame["message"] = self.rng.choice(["", "   ", "\n\t", "x" * 4001, 5, None, ["hi"], {"text": "hi"}])
        else:
            value = self.not_uuid()
            if broken == "client_message_id" and value is None:
                value = "nope"  # null is a valid "absent"
            frame[broken] = value
        return (f"invalid {broken}", json.dumps(frame), ("error", {400}))

    def huge(self):
        size = self.rng.randint(5_000, 30_000)
        choice = self.rng.randrange(4)
        if choice == 0:
            return ("huge action", json.dumps({"action": "x" * size}), ("error", {400}))
        if choice == 1:
            frame = {"action": "sendMessage", "conversation_id": self.conversation, "message": "y" * size}
            return ("huge message", json.dumps(frame), ("error", {400}))
        if choice == 2:
            return ("huge text, not JSON", "{" + "z" * size, ("error", {400}))
        # Unknown fields are ignored, however big: a valid whoami.
        frame = {"action": "whoami", "padding": self.text(size // 4, string.ascii_letters)}
        return ("huge unknown field", json.dumps(frame), ("reply", "whoami"))

    def nested(self):
        depth = self.rng.choice([3, 20, 100, 200, 1000])
        inner = "[" * depth + "]" * depth
        if self.rng.random() < 0.5:
            # The action itself is garbage: a 400 whether serde_json accepts the depth or not.
            return (f"nested action (depth {depth})", '{"action": ' + inner + "}", ("error", {400}))
        # Garbage in an unknown field of a valid whoami: ignored, unless the JSON is too deep to
        # parse at all (serde_json's limit: 128 levels).
        frame = '{"action": "whoami", "junk": ' + inner + "}"
        expect = ("reply", "whoami") if depth < 127 else ("error", {400})
        return (f"nested junk (depth {depth})", frame, expect)

    def binary(self):
        if self.rng.random() < 0.3:
            # A binary frame holding a valid JSON frame is that frame.
            return ("binary whoami", json.dumps({"action": "whoami"}).encode(), ("reply", "whoami"))
        data = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 300)))
        if self.rng.random() < 0.3:
            data = b"\xff\xfe" + data  # never UTF-8
        try:
            parsed = json.loads(data.decode("utf-8"))
            if isinstance(parsed, dict):
                data = b"\xff" + data
        except (UnicodeDecodeError, ValueError):
            pass
        return ("binary garbage", data, ("error", {400}))

    def valid(self):
        choice = self.rng.randrange(4)
        if choice == 0:
            return ("whoami", json.dumps({"action": "whoami", "extra": self.junk_value()}), ("reply", "whoami"))
        if choice == 1:
            frame = {"action": "subscribe", "conversation_id": self.conversation.upper()}
            return ("subscribe", json.dumps(frame), ("reply", "subscribed"))
        if choice == 2:
            return ("typing", json.dumps({"action": "typing", "conversation_id": self.conversation}), ("none", None))
        frame = {
            "action": "sendMessage",
            "conversation_id": self.conversation,
            "message": self.text(self.rng.randint(1, 60), string.ascii_letters + " éß漢") + "!",
        }
        if self.rng.random() < 0.5:
            # Replayable once answered: the fuzz loop adds it to self.sent with its message_id.
            frame["client_message_id"] = self.random_uuid()
        return ("sendMessage", json.dumps(frame), ("reply", "sent"))

    def replay(self):
        if not self.sent:
            return self.valid()
        client_message_id, text, _ = self.rng.choice(self.sent)
        frame = {"action": "sendMessage", "conversation_id": self.conversation, "client_message_id": client_message_id}
        if self.rng.random() < 0.5:
            # A retry: the first message again, nothing stored or pushed.
            return ("sendMessage replayed", json.dumps({**frame, "message": text}), ("reply", "sent"))
        return ("client_message_id reused with another text", json.dumps({**frame, "message": text + "?"}), ("error", {409}))

    def refused(self):
        other = self.foreign if self.foreign and self.rng.random() < 0.5 else self.random_uuid()
        action = self.rng.choice(["subscribe", "typing", "sendMessage"])
        frame = {"action": action, "conversation_id": other, "message": "hi"}
        return (f"{action} to a conversation that is not ours", json.dumps(frame), ("error", {404}))


# ---------------------------------------------------------------------------------------------


class Client:
    def __init__(self, socket, validator, timeout: float):
        self.socket = socket
        self.validator = validator
        self.timeout = timeout
        self.pushed = 0
        self.messages: list[str] = []  # ids of the `message` frames pushed to this socket
        self.typing_echoes: list[dict] = []  # `typing` frames pushed to the typist's own socket

    async def reply(self) -> dict:
        """The next frame that answers a request (pushed frames are checked and skipped)."""
        while True:
            frame = await self.next_frame(self.timeout)
            if frame.get("type") not in PUSHED:
                return frame

    async def settle(self, expected: list[str], seconds: float) -> list[str]:
        """Reads pushed frames until every expected message has arrived (at most `seconds`),
        then for QUIET_SECONDS more: nothing but pushed frames may come. Returns problems."""
        problems = []
        deadline = time.monotonic() + seconds
        try:
            while not set(expected) <= set(self.messages) and time.monotonic() < deadline:
                frame = await self.next_frame(deadline - time.monotonic())
                if frame.get("type") not in PUSHED:
                    problems.append(f"the sender's socket got an unrequested frame: {json.dumps(frame)[:300]}")
        except Timeout:
            pass  # the counts, compared by the caller, say what is missing
        except Failure as failure:
            problems.append(f"the sender's socket, waiting for the last pushes: {failure}")
        try:
            while True:
                frame = await self.next_frame(QUIET_SECONDS)
                if frame.get("type") not in PUSHED:
                    problems.append(f"the sender's socket got an unrequested frame: {json.dumps(frame)[:300]}")
        except Timeout:
            pass
        except Failure as failure:
            problems.append(f"the sender's socket, after the last pushes: {failure}")
        return problems

    async def next_frame(self, timeout: float) -> dict:
        """The next frame of any kind, checked against the spec; pushed ones are counted."""
        try:
            raw = await asyncio.wait_for(self.socket.recv(), max(timeout, 0.01))
        except asyncio.TimeoutError:
            raise Timeout(f"no answer within {timeout:.0f} s") from None
        except websockets.ConnectionClosed as closed:
            raise Failure(f"the server closed the socket ({closed})") from None
        try:
            frame = json.loads(raw)
        except ValueError:
            raise Failure(f"a frame that is not JSON: {raw[:200]!r}") from None
        errors = sorted(self.validator.iter_errors(frame), key=lambda e: e.path)
        if errors:
            raise Failure(f"a frame that breaks the spec: {json.dumps(frame)[:300]} ({errors[0].message[:200]})")
        if frame.get("type") in PUSHED:
            self.pushed += 1
            if frame["type"] == "message":
                self.messages.append(frame["message_id"])
            if frame["type"] == "typing":
                # Only the other members' connections get it (the contract).
                self.typing_echoes.append(frame)
        return frame

    async def whoami(self) -> dict:
        await self.socket.send(json.dumps({"action": "whoami"}))
        frame = await self.reply()
        if frame.get("type") != "whoami":
            raise Failure(f"whoami answered with {json.dumps(frame)[:300]}")
        return frame


def expect(frame: dict, expectation) -> None:
    kind, value = expectation
    if kind == "error":
        status = frame.get("error", {}).get("status") if frame.get("type") == "error" else None
        if status not in value:
            raise Failure(f"expected an error frame with status {sorted(value)}, got {json.dumps(frame)[:300]}")
    elif kind == "reply" and frame.get("type") != value:
        raise Failure(f"expected a {value!r} frame, got {json.dumps(frame)[:300]}")


def connect_url(base: str, **query) -> str:
    query = {k: v for k, v in query.items() if v is not None}
    return base.rstrip("/") + "/" + ("?" + urlencode(query) if query else "")


async def handshake_status(url: str) -> int:
    try:
        async with websockets.connect(url, open_timeout=15, max_size=None):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def check_handshakes(args) -> tuple[int, list[str]]:
    fake = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    cases = [
        ("no token", connect_url(args.url), {401}),
        ("empty token", connect_url(args.url, token=""), {401}),
        ("forged token", connect_url(args.url, token=fake), {401}),
        ("token with garbage appended", connect_url(args.url, token=args.token + "x"), {401}),
        ("conversation_id not a UUID", connect_url(args.url, token=args.token, conversation_id="nope"), {400}),
        ("unknown conversation", connect_url(args.url, token=args.token, conversation_id=str(uuid.UUID(int=1))), {404}),
    ]
    if args.foreign_conversation:
        url = connect_url(args.url, token=args.token, conversation_id=args.foreign_conversation)
        cases.append(("conversation of another user", url, {403, 404}))
    failures = []
    for label, url, wanted in cases:
        status = await handshake_status(url)
        if status not in wanted:
            failures.append(f"handshake with {label}: got {status}, expected {sorted(wanted)}")
    return len(cases), failures


class Peer:
    """The other participant's socket, registered on the conversation: it must get every new
    message once (never a replay) and every `typing` frame, all matching the spec."""

    def __init__(self, socket, validator):
        self.socket = socket
        self.validator = validator
        self.frames: list[dict] = []
        self.problems: list[str] = []
        self.task = asyncio.create_task(self.collect())

    async def collect(self) -> None:
        try:
            async for raw in self.socket:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    self.problems.append(f"peer got a frame that is not JSON: {raw[:200]!r}")
                    continue
                errors = list(self.validator.iter_errors(frame))
                if errors:
                    self.problems.append(f"peer got a frame that breaks the spec: {json.dumps(frame)[:300]}")
                self.frames.append(frame)
        except websockets.ConnectionClosed:
            pass

    async def check(self, messages: list[str], typing: int, seconds: float) -> list[str]:
        # Wait for what must come (posts in flight), then QUIET_SECONDS for what must not.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.task.done():
            pushed = {f.get("message_id") for f in self.frames if f.get("type") == "message"}
            typed = sum(1 for f in self.frames if f.get("type") == "typing")
            if set(messages) <= pushed and typed >= typing:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(QUIET_SECONDS)
        await self.socket.close()
        await self.task
        problems = list(self.problems)
        pushed = [f["message_id"] for f in self.frames if f.get("type") == "message"]
        if sorted(pushed) != sorted(messages):
            problems.append(f"peer got {len(pushed)} message frames ({len(set(pushed))} distinct) for {len(messages)} new messages")
        typed = sum(1 for f in self.frames if f.get("type") == "typing")
        if typed != typing:
            problems.append(f"peer got {typed} typing frames for {typing} typing actions")
        return problems


async def fuzz(args) -> int:
    started = time.monotonic()
    deadline = started + args.max_seconds
    validator = server_frame_validator()
    rng = random.Random(args.seed)
    gen = Generator(rng, args.conversation, args.foreign_conversation)
    handshakes, failures = await check_handshakes(args)
    sent = answered = probes = typing = 0
    new_messages: list[str] = []
    kinds: dict[str, int] = {}
    peer = None
    if args.peer_token:
        peer_url = connect_url(args.url, token=args.peer_token, conversation_id=args.conversation)
        peer = Peer(await websockets.connect(peer_url, open_timeout=15, max_size=None), validator)
    url = connect_url(args.url, token=args.token, conversation_id=args.conversation)
    async with websockets.connect(url, open_timeout=15, max_size=None, compression=None) as socket:
        client = Client(socket, validator, args.timeout)
        await client.whoami()
        for batch_start in range(0, args.frames, args.batch):
            for _ in range(min(args.batch, args.frames - batch_start)):
                if time.monotonic() > deadline:
                    failures.append(f"time budget of {args.max_seconds} s spent after {sent} frames")
                    break
                label, payload, expectation = gen.case()
                kinds[label] = kinds.get(label, 0) + 1
                assert len(payload) <= FRAME_LIMIT, label
                sent += 1
                try:
                    await socket.send(payload)
                    if expectation[0] == "none":
                        await client.whoami()  # nothing may answer the frame itself
                        typing += label == "typing"
                    else:
                        frame = await client.reply()
                        expect(frame, expectation)
                        if label == "sendMessage":
                            # A new message: a new id, replayable under its client_message_id.
                            sent_frame = json.loads(payload)
                            if frame["message_id"] in new_messages:
                                raise Failure(f"a new message answered with the id of an earlier one: {json.dumps(frame)}")
                            new_messages.append(frame["message_id"])
                            if "client_message_id" in sent_frame:
                                gen.sent.append((sent_frame["client_message_id"], sent_frame["message"], frame["message_id"]))
                        elif label == "sendMessage replayed":
                            # A retry answers the first message's id (and pushes nothing: counted below).
                            replayed = json.loads(payload)["client_message_id"]
                            original = next(m for c, _, m in gen.sent if c == replayed)
                            if frame["message_id"] != original:
                                raise Failure(f"a replay of {replayed} answered {frame['message_id']}, not the first message's {original}")
                    answered += 1
                except Failure as failure:
                    shown = payload[:120] if isinstance(payload, str) else payload[:60]
                    failures.append(f"frame #{sent} ({label}) {shown!r}: {failure}")
                    if "closed" in str(failure) or len(failures) >= args.max_failures:
                        break
            else:
                try:
                    await client.whoami()
                    probes += 1
                    continue
                except Failure as failure:
                    failures.append(f"whoami after frame #{sent}: {failure}")
            break
        failures.extend(await client.settle(new_messages, args.timeout))
        if sorted(client.messages) != sorted(new_messages):
            failures.append(
                f"the sender's socket got {len(client.messages)} message frames for {len(new_messages)} new messages"
            )
        if client.typing_echoes:
            failures.append(
                f"the typist's own socket got {len(client.typing_echoes)} typing frames: {json.dumps(client.typing_echoes[0])[:200]}"
            )
    if peer is not None:
        failures.extend(await peer.check(new_messages, typing, args.timeout))
    elapsed = time.monotonic() - started
    for failure in failures:
        print(f"ws_fuzz: FAIL {failure}", file=sys.stderr)
    if args.verbose:
        for label, count in sorted(kinds.items()):
            print(f"ws_fuzz:   {count:4d} x {label}", file=sys.stderr)
    verdict = "ok" if not failures else f"{len(failures)} failure(s)"
    print(
        f"ws_fuzz: {verdict}: {sent} frames ({len(kinds)} kinds, seed {args.seed}), {answered} answered as documented, "
        f"{probes} whoami probes, {handshakes} handshakes, {len(new_messages)} messages and {typing} typing frames delivered"
        f"{' to both sockets' if peer else ''}, {elapsed:.1f} s"
    )
    return 1 if failures else 0


async def hold(args) -> int:
    url = connect_url(args.url, token=args.token, conversation_id=args.conversation)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with websockets.connect(url, open_timeout=15, max_size=None) as socket:
        await socket.send(json.dumps({"action": "whoami"}))
        while True:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 15))
            if frame.get("type") == "whoami":
                break
        print(frame["connection_id"], flush=True)

        async def drain():
            async for _ in socket:
                pass

        reader = asyncio.create_task(drain())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        reader.cancel()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["fuzz", "hold"])
    parser.add_argument("--url", required=True, help="the WebSocket API, e.g. ws://127.0.0.1:3001")
    parser.add_argument("--token", required=True, help="a JWT of the user to connect as")
    parser.add_argument("--conversation", help="a conversation of that user (fuzz: required)")
    parser.add_argument("--foreign-conversation", help="fuzz: a conversation of another user")
    parser.add_argument("--peer-token", help="fuzz: a JWT of the conversation's other participant")
    parser.add_argument("--frames", type=int, default=300, help="frames to send (default 300)")
    parser.add_argument("--batch", type=int, default=25, help="frames between whoami probes (default 25)")
    parser.add_argument("--seed", type=int, default=20250222, help="random seed (default 20250222)")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for each answer")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="time budget for the whole run")
    parser.add_argument("--max-failures", type=int, default=20, help="stop after this many failures")
    parser.add_argument("--verbose", action="store_true", help="print how many frames of each kind were sent")
    args = parser.parse_args()
    if args.command == "fuzz" and not args.conversation:
        parser.error("fuzz needs --conversation")
    try:
        return asyncio.run(fuzz(args) if args.command == "fuzz" else hold(args))
    except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as err:
        print(f"ws_fuzz: cannot talk to {args.url}: {err!r}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
