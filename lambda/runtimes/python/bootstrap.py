"""A small Lambda runtime interface client for Python, used by the local endpoint to host
a Python handler as AWS runs it: it imports `_HANDLER` (`module.function`, relative to
LAMBDA_TASK_ROOT), then polls the Runtime API at AWS_LAMBDA_RUNTIME_API for events and
posts each answer back. Standard library only."""

import http.client
import importlib
import json
import os
import sys
import time
import traceback

BASE = "/2018-06-01/runtime"


class RuntimeApi:
    """One kept-alive connection to the Runtime API, reopened when the server closed it."""

    def __init__(self, address):
        self.address = address
        self.conn = None

    def call(self, method, route, body=None, headers=None):
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.address)
                self.conn.request(method, BASE + route, body=body, headers=headers or {})
                response = self.conn.getresponse()
                return response.status, response.headers, response.read()
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn = None
                if attempt == 2:
                    raise

    def post(self, route, doc, error_type=None):
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        headers = {"Content-Type": "application/json"}
        if error_type:
            headers["Lambda-Runtime-Function-Error-Type"] = error_type
        return self.call("POST", route, body, headers)


class LambdaContext:
    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


class RuntimeFault(Exception):
    """An error of the runtime's own (`Runtime.ImportModuleError`, ...)."""

    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def error_document(error, request_id=None):
    """The error document AWS's Python runtime posts."""
    error_type = error.error_type if isinstance(error, RuntimeFault) else type(error).__name__
    doc = {"errorMessage": str(error), "errorType": error_type}
    if request_id:
        doc["requestId"] = request_id
    doc["stackTrace"] = [] if isinstance(error, RuntimeFault) else traceback.format_list(
        traceback.extract_tb(error.__traceback__)
    )
    return doc


def load_handler():
    handler = os.environ.get("_HANDLER", "")
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as e:
        raise RuntimeFault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {e}")
    module_name = module_name.replace("/", ".")
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", os.getcwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise RuntimeFault("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}")
    except SyntaxError as e:
        raise RuntimeFault("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}")
    function = getattr(module, function_name, None)
    if not callable(function):
        raise RuntimeFault("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return function


def invoke(api, handler, headers, body):
    request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
    os.environ["_X_AMZN_TRACE_ID"] = headers.get("Lambda-Runtime-Trace-Id", "")
    try:
        event = json.loads(body) if body else None
        result = handler(event, LambdaContext(headers))
        try:
            answer = json.dumps(result).encode()
        except (TypeError, ValueError) as e:
            raise RuntimeFault("Runtime.MarshalError", f"Unable to marshal response: {e}")
    except Exception as e:  # the function's error, answered as AWS does; the loop goes on
        doc = error_document(e, request_id)
        print(f"[ERROR] {doc['errorType']}: {doc['errorMessage']}", flush=True)
        api.post(f"/invocation/{request_id}/error", doc, doc["errorType"])
        return
    api.post(f"/invocation/{request_id}/response", answer)


def main():
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    api = RuntimeApi(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = load_handler()
    except Exception as e:
        doc = error_document(e)
        print(f"[ERROR] {doc['errorType']}: {doc['errorMessage']}", flush=True)
        api.post("/init/error", doc, doc["errorType"])
        sys.exit(1)
    while True:
        status, headers, body = api.call("GET", "/invocation/next")
        if status != 200:
            print(f"the Runtime API answered {status} to next", file=sys.stderr, flush=True)
            sys.exit(1)
        invoke(api, handler, headers, body)


if __name__ == "__main__":
    main()
