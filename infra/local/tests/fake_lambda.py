#!/usr/bin/env python3
"""A stand-in Lambda function for tests/e2e.rs, speaking the Runtime API like a real one.

It behaves after the name it was started as (the tests copy it under several names):
echo answers every event with the event itself, the Runtime API headers and its environment;
fail reports a function error; crash exits during init; die exits mid-invocation; hang never
answers; once answers like echo, then exits while idle (a process dying between invocations). For the WebSocket API and stream triggers: gate accepts a $connect (403 when the query
has `deny`); pong answers "pong"; record and disconnected answer success; partial reports the
second record of its first batch failed (ReportBatchItemFailures).

With RECORD_DIR set, every event is also appended to RECORD_DIR/<name>.jsonl before answering.
"""

import base64
import json
import os
import sys
import time
import urllib.request

MODE = os.path.basename(sys.argv[0])
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"


def post(path, document):
    data = json.dumps(document).encode()
    urllib.request.urlopen(urllib.request.Request(API + path, data=data, method="POST")).read()


if MODE == "crash":
    sys.exit(3)

while True:
    with urllib.request.urlopen(API + "/invocation/next") as reply:
        request_id = reply.headers["Lambda-Runtime-Aws-Request-Id"]
        runtime = {k.lower(): v for k, v in reply.headers.items() if k.lower().startswith("lambda-runtime-")}
        event = json.load(reply)
    if os.environ.get("RECORD_DIR"):
        with open(os.path.join(os.environ["RECORD_DIR"], MODE + ".jsonl"), "a") as log:
            log.write(json.dumps(event) + "\n")
    if MODE == "gate":
        denied = "deny" in (event.get("queryStringParameters") or {})
        answer = {"statusCode": 403, "body": "denied by gate"} if denied else {"statusCode": 200}
        post(f"/invocation/{request_id}/response", answer)
        continue
    if MODE == "pong":
        post(f"/invocation/{request_id}/response", {"statusCode": 200, "body": "pong"})
        continue
    if MODE in ("record", "disconnected"):
        post(f"/invocation/{request_id}/response", {})
        continue
    if MODE == "partial":
        records = event["Records"]
        first = not os.path.exists(os.path.join(os.environ["RECORD_DIR"], "partial.done"))
        failures = []
        if first and len(records) > 1:
            open(os.path.join(os.environ["RECORD_DIR"], "partial.done"), "w").close()
            failures = [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]
        post(f"/invocation/{request_id}/response", {"batchItemFailures": failures})
        continue
    if MODE == "hang":
        time.sleep(600)
    if MODE == "die":
        os._exit(1)
    if MODE == "fail":
        post(f"/invocation/{request_id}/error", {"errorMessage": "boom", "errorType": "Boom"})
        continue
    echo = json.dumps({"event": event, "runtime": runtime, "env": dict(os.environ)})
    post(
        f"/invocation/{request_id}/response",
        {
            "statusCode": 201,
            "headers": {"content-type": "application/json", "x-one": "1"},
            "multiValueHeaders": {"x-many": ["a", "b"]},
            "cookies": ["a=1", "b=2; Path=/"],
            "body": base64.b64encode(echo.encode()).decode(),
            "isBase64Encoded": True,
        },
    )
    if MODE == "once":
        os._exit(0)
