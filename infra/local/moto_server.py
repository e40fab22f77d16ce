"""A local DynamoDB: moto's server app, served single-threaded.

The stock `moto_server` is threaded, and two conditional transactions racing on it can both
win. Serving one request at a time makes every request atomic, as DynamoDB's are.

Prints `listening <port>` once it accepts connections (use --port 0 for a free port).
Exits when its parent does, so a killed test run or gateway never leaves it behind.
"""

import argparse
import os
import sys
import threading
import time

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def exit_with_parent() -> None:
    parent = os.getppid()

    def watch() -> None:
        # Reparenting (to init or a subreaper) is how an orphan learns its parent is gone.
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    exit_with_parent()
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    app = DomainDispatcherApplication(create_backend_app)
    try:
        server = make_server(args.host, args.port, app, threaded=False)
    except OSError as err:
        sys.exit(f"moto: cannot listen on {args.host}:{args.port}: {err}")
    print(f"listening {server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
