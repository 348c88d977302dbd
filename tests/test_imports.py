"""What a process loads: the command line's help and the 'openai' backend never import torch or
transformers (a stateless API replica stays small and starts at once)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from service.tools.subprocess_server import free_port

MODEL_LIBRARIES = ("torch", "transformers")


def loaded_after(code: str) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; which model libraries it loaded."""
    report = f"import json, sys\nprint(json.dumps({{name: name in sys.modules for name in {MODEL_LIBRARIES!r}}}))"
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + "\n" + report], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_summarizer_help_imports_no_model_library():
    loaded = loaded_after(
        """
        import contextlib, io
        from service.cli import main
        for args in (["--help"], ["summarize", "--help"], ["serve", "--help"]):
            with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
                main(args)
        """
    )
    assert loaded == {"torch": False, "transformers": False}


def test_the_openai_backend_serves_without_importing_a_model_library():
    # Nothing listens on the port: the summary is a 502, after the whole request path has run.
    loaded = loaded_after(
        f"""
        from litestar.testing import TestClient
        from service.api.app import create_app
        from service.settings import Settings

        settings = Settings(
            backend="openai", openai_base_url="http://127.0.0.1:{free_port()}/v1", openai_model="m",
            openai_max_retries=0,
        )
        app = create_app(settings)
        with TestClient(app) as client:
            app.state.runtime._loading.result(timeout=30)
            assert client.get("/readyz").status_code == 200
            response = client.post("/v1/summaries", json={{"text": "Rain fell in Oslo on Monday."}})
            assert response.status_code == 502, response.text
            assert client.get("/metrics").status_code == 200
        """
    )
    assert loaded == {"torch": False, "transformers": False}


def test_the_openai_backend_on_the_command_line_imports_no_model_library():
    loaded = loaded_after(
        f"""
        import io, os, sys
        os.environ.update(
            SUMMARIZER_BACKEND="openai", SUMMARIZER_OPENAI_MODEL="m", SUMMARIZER_OPENAI_MAX_RETRIES="0",
            SUMMARIZER_OPENAI_BASE_URL="http://127.0.0.1:{free_port()}/v1",
        )
        sys.stdin = io.StringIO("Rain fell in Oslo on Monday.")
        from service.cli import main
        assert main(["summarize", "-"]) == 1  # the inference server is down
        """
    )
    assert loaded == {"torch": False, "transformers": False}


def test_the_openai_backend_summarises_without_importing_a_model_library():
    # A scripted server that answers each field with its first allowed value: a whole summary
    # (candidates found by spaCy, the schema sent, the answer tied to the article) in this process.
    loaded = loaded_after(
        """
        import json, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from service.settings import Settings
        from service.summarizer import Summarizer
        from service.schemas import SummaryRequest

        class Engine(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                rules = body["response_format"]["json_schema"]["schema"]["properties"]
                answer = {name: (rule["items"]["enum"][:1] if rule["type"] == "array" else rule.get("enum", [None])[0]) for name, rule in rules.items()}
                reply = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": json.dumps(answer)}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        engine = ThreadingHTTPServer(("127.0.0.1", 0), Engine)
        threading.Thread(target=engine.serve_forever, daemon=True).start()
        settings = Settings(backend="openai", openai_base_url=f"http://127.0.0.1:{engine.server_port}/v1", openai_model="m")
        summary = Summarizer.load(settings).summarize(SummaryRequest(text="Rain flooded homes in Oslo on Monday, the city said."))
        assert [item.text for item in summary.where] == ["Oslo"] and summary.when.text.endswith("Monday"), summary
        """
    )
    assert loaded == {"torch": False, "transformers": False}
