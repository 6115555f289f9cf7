"""The web chat page end to end: a real browser (Debian's Chromium, driven by Playwright) on the page of a real
server running the embedded model.

Screenshots go to ``<pytest's temporary folder>/screenshots`` (the run prints where); with
``ROSETTA_SAVE_SCREENSHOTS=1`` they are also copied to ``docs/screenshots/web_*.png``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Generator

import pytest
import soundfile

from agent.server.config import ServerConfig
from agent.server.run import BackgroundServer
from tests.conftest import make_picture

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
QUESTION_WAV = ROOT / "examples" / "question.wav"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
MAX_TOKENS = 40  # short answers keep the file fast; the page reads ?max_tokens=
REPLY_TIMEOUT_MS = 90_000  # a reply on a slow machine (the first recording also loads the speech model)

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium package to test the web page",
                    pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the web page test needs it",
                allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

pytestmark = pytest.mark.slow


# Fixtures ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(embedded_model) -> Generator[BackgroundServer, None, None]:
    with BackgroundServer(embedded_model, ServerConfig(port=0)) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Generator[Browser, None, None]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run",
            # A microphone that needs no permission prompt and plays question.wav (in a loop).
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={QUESTION_WAV}",
        ])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshot(tmp_path_factory, request) -> Generator[Callable[[Page, str], Path], None, None]:
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    copy_to_docs = os.environ.get("ROSETTA_SAVE_SCREENSHOTS") == "1"
    saved: list[Path] = []

    def save(page: Page, name: str) -> Path:
        path = folder / f"web_{name}.png"
        page.screenshot(path=str(path))
        saved.append(path)
        if copy_to_docs:
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
        return path

    yield save
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and saved:
        where = f"{folder} and {DOCS_SCREENSHOTS}" if copy_to_docs else str(folder)
        with capture.global_and_fixture_disabled():  # printed even while pytest captures the tests' output
            reporter.write_line(f"\nweb page screenshots ({len(saved)}): {where}")


class Chat:
    """The page, plus what it sent to /v1/chat/completions and any JavaScript errors it raised."""

    def __init__(self, page: Page):
        self.page = page
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.js_errors: list[str] = []
        page.on("pageerror", lambda error: self.js_errors.append(str(error)))
        page.on("request", self._record)

    def _record(self, request) -> None:
        if request.url.endswith("/v1/chat/completions"):
            self.requests.append(json.loads(request.post_data or "null"))
            self.headers.append(request.headers)

    def open(self, url: str) -> None:
        self.page.goto(f"{url}/?max_tokens={MAX_TOKENS}")
        expect(self.page.locator("#model-name")).not_to_be_empty()  # /health answered: the script runs

    def set_tools(self, on: bool) -> None:
        self.page.locator("#tools-toggle").set_checked(on)

    def ask(self, text: str) -> None:
        self.page.fill("#prompt", text)
        self.page.press("#prompt", "Enter")

    @property
    def reply(self):
        return self.page.locator("#messages .message.assistant").last

    def wait_reply(self, state: str = "done") -> None:
        expect(self.reply).not_to_have_attribute("data-state", "streaming", timeout=REPLY_TIMEOUT_MS)
        expect(self.reply).to_have_attribute("data-state", state)

    def answer(self) -> str:
        return self.reply.locator(".answer").last.inner_text().strip()

    def watch_answer_lengths(self) -> None:
        """Record the answer's length at every change, to see it grow piece by piece."""
        self.page.evaluate("""() => {
            window.answerLengths = [];
            new MutationObserver(() => {
                const answer = [...document.querySelectorAll('#messages .answer')].pop();
                if (answer) window.answerLengths.push(answer.textContent.length);
            }).observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
        }""")


@pytest.fixture
def chat(browser, server) -> Generator[Chat, None, None]:
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    chat = Chat(context.new_page())
    chat.open(server.url)
    yield chat
    context.close()
    assert not chat.js_errors, f"the page raised JavaScript errors: {chat.js_errors}"


def png_file(folder: Path) -> Path:
    path = folder / "disc.png"
    make_picture(160, 120, "red").save(path)
    return path


# Tests --------------------------------------------------------------------------------------------------------

def test_answer_streams_in_with_usage(chat, screenshot):
    page = chat.page
    expect(page.locator("#empty-state")).to_be_visible()
    expect(page.locator("#api-key-field")).to_be_hidden()  # this server wants no key
    chat.set_tools(False)
    chat.watch_answer_lengths()
    chat.ask("What is the capital of France?")
    expect(page.locator("#stop")).to_be_visible()
    chat.wait_reply()
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#send")).to_be_enabled()

    assert chat.answer()
    lengths = [n for n in page.evaluate("window.answerLengths") if n]
    assert len(set(lengths)) >= 2, f"the answer arrived in one piece, not streamed: {lengths}"
    expect(chat.reply.locator(".usage")).to_have_text(re.compile(r"\d+ prompt \+ \d+ completion tokens"))
    expect(page.locator("#prompt")).to_have_value("")
    expect(page.locator("#empty-state")).to_be_hidden()

    body = chat.requests[-1]
    assert body["model"] == "rosetta" and body["stream"] is True and body["max_tokens"] == MAX_TOKENS
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    screenshot(page, "answer")


def test_stop_aborts_the_answer(chat):
    page = chat.page
    chat.set_tools(False)
    chat.ask("Write a long story about a dragon who learns to bake bread.")
    expect(chat.reply.locator(".answer")).not_to_be_empty(timeout=REPLY_TIMEOUT_MS)
    page.click("#stop")
    chat.wait_reply("stopped")
    expect(chat.reply).to_contain_text("Stopped.")
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#send")).to_be_enabled()


def test_calculator_tool_call_and_result(chat, screenshot):
    page = chat.page
    expect(page.locator("#tools-toggle")).to_be_checked()  # tools are on by default
    chat.ask("What is 12 * 7? Use the calculator.")
    chat.wait_reply()
    tool = chat.reply.locator(".tool").first
    expect(tool.locator(".tool-name")).to_have_text("calculator")
    expect(tool.locator(".tool-args")).to_contain_text("12")
    expect(tool.locator(".tool-result")).to_contain_text("84")
    expect(page.locator(".error-message")).to_have_count(0)
    expect(chat.reply.locator(".usage")).to_be_visible()
    assert chat.requests[-1]["model"] == "rosetta-agent"
    screenshot(page, "tool")


def test_image_attachment(chat, screenshot, tmp_path):
    page = chat.page
    chat.set_tools(False)
    page.set_input_files("#attach-image", str(png_file(tmp_path)))
    expect(page.locator("#attachments .attachment img")).to_have_count(1)
    chat.ask("What is in this picture?")
    expect(page.locator("#attachments .attachment")).to_have_count(0)  # sent: the composer is empty again
    expect(page.locator(".message.user img")).to_have_count(1)
    chat.wait_reply()
    assert chat.answer()

    content = chat.requests[-1]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is in this picture?"}
    assert content[1]["type"] == "image_url" and content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    screenshot(page, "image")


def test_a_real_photo_is_answered_from_what_the_detector_found(chat, screenshot, tmp_path):
    from tests.vision.reference_inputs import photo

    page = chat.page
    path = tmp_path / "grace_hopper.jpg"
    photo().save(path)
    page.set_input_files("#attach-image", str(path))
    chat.ask("What is in this photo?")
    chat.wait_reply()
    assert chat.answer().startswith("I see a person"), chat.answer()
    chat.ask("How many people are in it?")
    chat.wait_reply()
    assert chat.answer() == "I see one person.", chat.answer()
    screenshot(page, "photo")


def test_paste_image_shows_a_removable_thumbnail(chat, screenshot):
    page = chat.page
    buffer = io.BytesIO()
    make_picture(96, 72, "blue").save(buffer, "PNG")
    data_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    page.evaluate("""async (dataUrl) => {
        const blob = await (await fetch(dataUrl)).blob();
        const transfer = new DataTransfer();
        transfer.items.add(new File([blob], 'pasted.png', {type: 'image/png'}));
        const paste = new ClipboardEvent('paste', {clipboardData: transfer, bubbles: true, cancelable: true});
        document.getElementById('prompt').dispatchEvent(paste);
    }""", data_url)
    thumbnails = page.locator("#attachments .attachment img")
    expect(thumbnails).to_have_count(1)
    expect(thumbnails.first).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    page.fill("#prompt", "What colour")
    page.press("#prompt", "Shift+Enter")  # a new line, not a send
    page.keyboard.type("is this?")
    expect(page.locator("#prompt")).to_have_value("What colour\nis this?")
    assert chat.requests == []
    screenshot(page, "paste")
    page.get_by_role("button", name="Remove pasted.png").click()
    expect(page.locator("#attachments .attachment")).to_have_count(0)
    expect(page.locator("#attachments")).to_be_hidden()


def test_record_audio_and_send(chat, screenshot):
    page = chat.page
    chat.set_tools(False)
    page.click("#record")
    expect(page.locator("#record")).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(3000)
    page.click("#record")
    expect(page.locator("#record")).to_have_attribute("aria-pressed", "false")
    recording = page.locator("#attachments .attachment.audio")
    expect(recording).to_have_count(1)
    expect(recording).to_contain_text("Recording")
    screenshot(page, "recording")

    page.click("#send")
    chat.wait_reply()
    expect(page.locator(".error-message")).to_have_count(0)
    assert chat.answer()
    expect(page.locator(".message.user audio")).to_have_count(1)

    # What went to the server is a real 16-bit mono WAV of about 3 s of the fake microphone's sound.
    part = chat.requests[-1]["messages"][-1]["content"][0]
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
    wav = base64.b64decode(part["input_audio"]["data"])
    info = soundfile.info(io.BytesIO(wav))
    samples, rate = soundfile.read(io.BytesIO(wav))
    assert info.channels == 1 and info.subtype == "PCM_16" and rate == 16_000
    assert 2.0 < len(samples) / rate < 5.0
    assert float((samples**2).mean()) ** 0.5 > 0.01, "the recording is silent"
    screenshot(page, "recording_answer")


def test_server_error_is_shown_and_input_kept(chat, screenshot, tmp_path):
    page = chat.page
    not_a_picture = tmp_path / "notes.png"
    not_a_picture.write_text("these are notes, not a picture\n")
    page.set_input_files("#attach-image", str(not_a_picture))
    chat.ask("Describe this")
    chat.wait_reply("error")
    expect(chat.reply.locator(".error-message")).to_contain_text("is not an image")
    expect(page.locator("#prompt")).to_have_value("Describe this")  # nothing typed or attached is lost
    expect(page.locator("#attachments .attachment")).to_have_count(1)
    expect(page.locator(".message.user.failed")).to_have_count(1)
    screenshot(page, "error")


def test_history_and_new_chat(chat, screenshot):
    page = chat.page
    chat.set_tools(False)
    chat.ask("My name is Ada.")
    chat.wait_reply()
    first_answer = chat.answer()
    chat.ask("What is my name?")
    chat.wait_reply()
    assert [m["role"] for m in chat.requests[-1]["messages"]] == ["user", "assistant", "user"]
    assert chat.requests[-1]["messages"][1]["content"] == first_answer
    expect(page.locator("#messages .message")).to_have_count(4)

    page.click("#new-chat")
    expect(page.locator("#messages .message")).to_have_count(0)
    expect(page.locator("#empty-state")).to_be_visible()
    screenshot(page, "new_chat")
    chat.ask("Hello!")
    chat.wait_reply()
    assert [m["role"] for m in chat.requests[-1]["messages"]] == ["user"]  # the old conversation is gone


def sse(*events: dict) -> str:
    return "".join(f"data: {json.dumps(event)}\n\n" for event in events)


def delta(**fields) -> dict:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": fields, "finish_reason": None}]}


def test_agent_events_are_shown(browser, server, screenshot):
    """Events the small model rarely produces, from a canned stream: reasoning, a failing tool, a tool's image,
    and an error in the middle of a stream. Dark theme, to see that it stays readable."""
    context = browser.new_context(viewport={"width": 1000, "height": 760}, color_scheme="dark")
    chat = Chat(context.new_page())
    buffer = io.BytesIO()
    make_picture(120, 90, "orange").save(buffer, "PNG")
    image_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    replies = [
        sse(delta(role="assistant", content=""), delta(content="I should "), delta(content="look at the file."),
            {"choices": [{"index": 0, "delta": {"rosetta": {"type": "thinking", "text": "I should look at the file.", "step": 1}}}]},
            delta(rosetta={"type": "tool_call", "id": "c1", "name": "read_file", "arguments": {"path": "a.txt"}}),
            delta(rosetta={"type": "tool_call", "id": "c2", "name": "show_image", "arguments": {"path": "b.png"}}),
            delta(rosetta={"type": "tool_result", "id": "c1", "name": "read_file", "text": "no file a.txt",
                           "is_error": True, "seconds": 0.01, "images": []}),
            delta(rosetta={"type": "tool_result", "id": "c2", "name": "show_image", "text": "b.png, 120x90",
                           "is_error": False, "seconds": 0.2, "images": [image_url]}),
            delta(content="The picture is orange."),
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}}) + "data: [DONE]\n\n",
        sse(delta(role="assistant", content=""), delta(content="Half an ans"),
            {"error": {"message": "generation failed: out of memory", "type": "server_error"}}) + "data: [DONE]\n\n",
    ]
    chat.page.route("**/v1/chat/completions", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "text/event-stream"}, body=replies.pop(0)))
    try:
        chat.open(server.url)
        page = chat.page
        page.set_input_files("#attach-audio", str(QUESTION_WAV))
        expect(page.locator("#attachments .attachment.audio")).to_contain_text("question.wav")
        chat.ask("What is in b.png?")
        chat.wait_reply()
        audio = chat.requests[-1]["messages"][-1]["content"][1]
        assert audio == {"type": "input_audio", "input_audio": {
            "data": base64.b64encode(QUESTION_WAV.read_bytes()).decode(), "format": "wav"}}
        expect(chat.reply.locator(".reasoning")).to_have_text("I should look at the file.")
        expect(chat.reply.locator(".tool")).to_have_count(2)
        expect(chat.reply.locator(".tool-result.error")).to_contain_text("no file a.txt")
        expect(chat.reply.locator(".tool-result img")).to_have_count(1)
        expect(chat.reply.locator(".answer")).to_have_text("The picture is orange.")
        expect(chat.reply.locator(".usage")).to_contain_text("9 prompt + 5 completion tokens")
        screenshot(page, "agent_events")

        chat.ask("And a.txt?")
        chat.wait_reply("error")
        expect(chat.reply.locator(".error-message")).to_have_text("generation failed: out of memory")
        expect(page.locator("#prompt")).to_have_value("And a.txt?")
        # Only the finished turn is history: the failed one is not sent again.
        assert [m["role"] for m in chat.requests[-1]["messages"]] == ["user", "assistant", "user"]
        assert chat.requests[-1]["messages"][1]["content"] == "The picture is orange."
    finally:
        context.close()
    assert not chat.js_errors, chat.js_errors


def test_api_key(browser, embedded_model, screenshot):
    config = ServerConfig(port=0, api_keys=("web-test-key",))
    with BackgroundServer(embedded_model, config) as server:
        context = browser.new_context(viewport={"width": 1000, "height": 760})
        chat = Chat(context.new_page())
        try:
            chat.open(server.url)
            page = chat.page
            expect(page.locator("#api-key")).to_be_visible()
            chat.set_tools(False)
            chat.ask("Hello")
            chat.wait_reply("error")
            expect(chat.reply.locator(".error-message")).to_contain_text("API key")
            expect(page.locator("#prompt")).to_have_value("Hello")

            page.fill("#api-key", "web-test-key")
            page.press("#prompt", "Enter")
            chat.wait_reply()
            assert chat.headers[-1]["authorization"] == "Bearer web-test-key"
            assert page.evaluate("sessionStorage.getItem('rosetta.apiKey')") == "web-test-key"
            screenshot(page, "api_key")
        finally:
            context.close()
        assert not chat.js_errors, chat.js_errors
