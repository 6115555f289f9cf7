// Rosetta's web chat: a plain-JavaScript client of the server's OpenAI-compatible API.
//
// Each turn sends the whole conversation to POST /v1/chat/completions with stream: true and reads the
// server-sent events as they arrive. The answer streams in as `delta.content`; with Tools on (model
// "rosetta-agent") the server runs its own tools and reports what they do in an extra `delta.rosetta` field.
//
// Page options (query string): ?max_tokens=N caps each answer (default 512).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $("composer"),
    prompt: $("prompt"),
    send: $("send"),
    stop: $("stop"),
    newChat: $("new-chat"),
    conversation: document.querySelector(".conversation"),
    messages: $("messages"),
    emptyState: $("empty-state"),
    attachments: $("attachments"),
    notice: $("notice"),
    tools: $("tools-toggle"),
    apiKey: $("api-key"),
    apiKeyField: $("api-key-field"),
    imageInput: $("attach-image"),
    audioInput: $("attach-audio"),
    record: $("record"),
    recordLabel: $("record-label"),
    modelName: $("model-name"),
  };

  const KEY_STORAGE = "rosetta.apiKey";  // sessionStorage: the key lives as long as the tab, never on disk
  const TARGET_RATE = 16000;  // recordings are sent at 16 kHz: what speech recognition uses, and a small upload
  const MAX_RECORD_SECONDS = 300;
  const AUDIO_FORMATS = { wav: "wav", wave: "wav", mp3: "mp3", flac: "flac", ogg: "ogg", oga: "ogg" };
  const AUDIO_MIME_FORMATS = {
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3",
    "audio/flac": "flac", "audio/x-flac": "flac", "audio/ogg": "ogg",
  };

  const maxTokens = positiveInteger(new URLSearchParams(location.search).get("max_tokens"), 512);

  const state = {
    history: [],       // OpenAI messages of the finished turns: what the next request sends before the new one
    pending: [],       // attachments waiting in the composer
    controller: null,  // the AbortController of the request in flight
    recorder: null,    // the microphone capture in progress
    chat: 0,           // bumped by "New chat", so a request still finishing knows its conversation is gone
    stickToBottom: true,
  };

  // Small helpers ----------------------------------------------------------------------------------------

  function positiveInteger(text, fallback) {
    const value = Number.parseInt(text ?? "", 10);
    return Number.isFinite(value) && value > 0 ? value : fallback;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;  // textContent, never innerHTML: model text is not markup
    return node;
  }

  // One of the SVG symbols defined at the top of index.html.
  function icon(name) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", `#icon-${name}`);
    svg.append(use);
    return svg;
  }

  // A thumbnail; a file the browser cannot show (not really an image?) gets its name instead. It is still
  // sent: the server has the last word, and says what is wrong with it.
  function thumbnail(url, name, onBroken) {
    const image = element("img");
    image.alt = name;
    image.addEventListener("error", () => onBroken(image), { once: true });
    image.src = url;
    return image;
  }

  // The name and icon of an audio attachment.
  function audioLabel(attachment) {
    const label = element("span", "audio-name");
    label.append(icon(attachment.icon), attachment.label);
    return label;
  }

  function readAsDataUrl(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error || new Error("could not read the file"));
      reader.readAsDataURL(blob);
    });
  }

  function showNotice(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = !text;
  }

  function apiHeaders() {
    const headers = { "Content-Type": "application/json" };
    const key = ui.apiKey.value.trim();
    if (key) headers.Authorization = `Bearer ${key}`;
    return headers;
  }

  // Follow the conversation as it grows, unless the reader scrolled up to read something earlier.
  ui.conversation.addEventListener("scroll", () => {
    const { scrollHeight, scrollTop, clientHeight } = ui.conversation;
    state.stickToBottom = scrollHeight - scrollTop - clientHeight < 80;
  });

  function scrollToEnd(force = false) {
    if (force || state.stickToBottom) ui.conversation.scrollTop = ui.conversation.scrollHeight;
  }

  function updateEmptyState() {
    ui.emptyState.hidden = ui.messages.children.length > 0;
  }

  // Attachments ----------------------------------------------------------------------------------------------

  // An attachment is {kind: "image", name, url} (a data: URL) or
  // {kind: "audio", name, label, icon, data, format, playUrl} (data: base64 of the file's bytes; playUrl: an
  // object URL an <audio> element can play).
  function addAttachment(attachment) {
    state.pending.push(attachment);
    renderAttachments();
  }

  function renderAttachments() {
    ui.attachments.replaceChildren(...state.pending.map((attachment, index) => {
      const item = element("div", `attachment ${attachment.kind}`);
      if (attachment.kind === "image") {
        item.append(thumbnail(attachment.url, attachment.name, (image) => {
          item.classList.add("broken");
          image.replaceWith(element("span", "", `${attachment.name} (no preview)`));
        }));
      } else {
        item.append(audioLabel(attachment));
      }
      const remove = element("button", "remove", "×");
      remove.type = "button";
      remove.setAttribute("aria-label", `Remove ${attachment.name}`);
      remove.addEventListener("click", () => {
        state.pending.splice(index, 1);
        renderAttachments();
        ui.prompt.focus();
      });
      item.append(remove);
      return item;
    }));
    ui.attachments.hidden = state.pending.length === 0;
  }

  async function addImageFile(file) {
    if (!file.type.startsWith("image/")) {
      showNotice(`${file.name || "That file"} is not an image.`);
      return;
    }
    addAttachment({ kind: "image", name: file.name || "pasted image", url: await readAsDataUrl(file) });
  }

  function audioFormat(file) {
    const extension = (file.name.split(".").pop() || "").toLowerCase();
    return AUDIO_FORMATS[extension] || AUDIO_MIME_FORMATS[file.type] || null;
  }

  async function addAudioFile(file) {
    const format = audioFormat(file);
    if (!format) {
      showNotice(`${file.name}: send audio as wav, mp3, flac or ogg.`);
      return;
    }
    const url = await readAsDataUrl(file);
    addAttachment({
      kind: "audio", name: file.name, label: file.name, icon: "music", format,
      data: url.slice(url.indexOf(",") + 1),  // the base64 after "data:<type>;base64,"
      playUrl: URL.createObjectURL(file),
    });
  }

  async function addFiles(files) {
    showNotice("");
    for (const file of files) {
      if (file.type.startsWith("audio/") || (!file.type.startsWith("image/") && audioFormat(file))) {
        await addAudioFile(file);
      } else {
        await addImageFile(file);
      }
    }
  }

  ui.imageInput.addEventListener("change", async () => {
    showNotice("");
    for (const file of ui.imageInput.files) await addImageFile(file);
    ui.imageInput.value = "";  // choosing the same file again must fire "change" again
  });

  ui.audioInput.addEventListener("change", async () => {
    showNotice("");
    for (const file of ui.audioInput.files) await addAudioFile(file);
    ui.audioInput.value = "";
  });

  // Pasting an image anywhere on the page attaches it; pasting text still types the text.
  document.addEventListener("paste", async (event) => {
    const data = event.clipboardData;
    if (!data) return;
    let images = Array.from(data.files || []).filter((file) => file.type.startsWith("image/"));
    if (!images.length) {  // some browsers list a pasted screenshot only among the items
      images = Array.from(data.items || [])
        .filter((item) => item.kind === "file" && item.type.startsWith("image/"))
        .map((item) => item.getAsFile())
        .filter(Boolean);
    }
    if (!images.length) return;
    event.preventDefault();
    showNotice("");
    for (const file of images) await addImageFile(file);
  });

  // Files dropped on the page: images and audio alike.
  document.addEventListener("dragover", (event) => {
    if (event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files")) event.preventDefault();
  });
  document.addEventListener("drop", (event) => {
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    addFiles(Array.from(event.dataTransfer.files));
  });

  // Recording ------------------------------------------------------------------------------------------------
  //
  // The microphone is captured as raw PCM through Web Audio and encoded here as a 16-bit mono WAV. MediaRecorder
  // would be simpler, but browsers record webm/opus with it, which the server's audio decoder (libsndfile)
  // cannot read.

  async function startRecording() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showNotice("This browser offers no microphone here: recording needs https or http://localhost.");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
    } catch (error) {
      showNotice(`The microphone is not available: ${error.message || error.name}`);
      return;
    }
    const context = new AudioContext();
    await context.resume();  // a context made after an await may start suspended
    const source = context.createMediaStreamSource(stream);
    // ScriptProcessorNode is deprecated in favour of AudioWorklet, but it works in every browser and needs no
    // separate worklet module; copying 4096-sample blocks off the audio thread is cheap for a recording.
    const processor = context.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    processor.onaudioprocess = (event) => {
      chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));  // a copy: the buffer is reused
    };
    source.connect(processor);
    processor.connect(context.destination);  // Chrome only runs a processor that leads somewhere; it outputs silence

    const started = performance.now();
    const timer = setInterval(() => {
      const seconds = (performance.now() - started) / 1000;
      ui.recordLabel.textContent = `Stop recording ${formatSeconds(seconds)}`;
      if (seconds >= MAX_RECORD_SECONDS) stopRecording();
    }, 250);
    state.recorder = { stream, context, source, processor, chunks, timer };
    ui.record.setAttribute("aria-pressed", "true");
    ui.record.setAttribute("aria-label", "Stop recording");
    ui.recordLabel.textContent = "Stop recording 0:00";
    showNotice("");
  }

  async function stopRecording() {
    const recorder = state.recorder;
    if (!recorder) return;
    state.recorder = null;
    clearInterval(recorder.timer);
    recorder.processor.onaudioprocess = null;
    recorder.source.disconnect();
    recorder.processor.disconnect();
    recorder.stream.getTracks().forEach((track) => track.stop());
    const rate = recorder.context.sampleRate;
    await recorder.context.close();
    ui.record.setAttribute("aria-pressed", "false");
    ui.record.setAttribute("aria-label", "Record audio from the microphone");
    ui.recordLabel.textContent = "Record";

    const samples = concatenate(recorder.chunks);
    if (samples.length < rate * 0.3) {
      showNotice("The recording was too short; hold Record a little longer.");
      return;
    }
    const { samples: resampled, rate: wavRate } = downsample(samples, rate, TARGET_RATE);
    const wav = new Blob([encodeWav(resampled, wavRate)], { type: "audio/wav" });
    const url = await readAsDataUrl(wav);
    addAttachment({
      kind: "audio", name: "recording", label: `Recording ${formatSeconds(samples.length / rate)}`, icon: "mic",
      format: "wav", data: url.slice(url.indexOf(",") + 1), playUrl: URL.createObjectURL(wav),
    });
  }

  function formatSeconds(seconds) {
    const whole = Math.floor(seconds);
    return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
  }

  function concatenate(chunks) {
    const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const joined = new Float32Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      joined.set(chunk, offset);
      offset += chunk.length;
    }
    return joined;
  }

  // Lower the sample rate by averaging the input samples each output sample covers (a simple low-pass filter,
  // enough for speech). A device slower than the target keeps its own rate: the server resamples.
  function downsample(samples, fromRate, toRate) {
    if (fromRate <= toRate) return { samples, rate: fromRate };
    const ratio = fromRate / toRate;
    const out = new Float32Array(Math.floor(samples.length / ratio));
    for (let i = 0; i < out.length; i++) {
      const start = Math.floor(i * ratio);
      const end = Math.min(samples.length, Math.floor((i + 1) * ratio));
      let sum = 0;
      for (let j = start; j < end; j++) sum += samples[j];
      out[i] = sum / Math.max(1, end - start);
    }
    return { samples: out, rate: toRate };
  }

  // A canonical 44-byte-header WAV file: PCM, 1 channel, 16 bits, little-endian.
  function encodeWav(samples, rate) {
    const buffer = new ArrayBuffer(44 + samples.length * 2);
    const view = new DataView(buffer);
    const ascii = (offset, text) => [...text].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
    ascii(0, "RIFF");
    view.setUint32(4, 36 + samples.length * 2, true);
    ascii(8, "WAVE");
    ascii(12, "fmt ");
    view.setUint32(16, 16, true);        // size of the fmt chunk
    view.setUint16(20, 1, true);         // PCM
    view.setUint16(22, 1, true);         // mono
    view.setUint32(24, rate, true);
    view.setUint32(28, rate * 2, true);  // bytes per second
    view.setUint16(32, 2, true);         // bytes per frame
    view.setUint16(34, 16, true);        // bits per sample
    ascii(36, "data");
    view.setUint32(40, samples.length * 2, true);
    for (let i = 0; i < samples.length; i++) {
      const clamped = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(44 + i * 2, clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff, true);
    }
    return buffer;
  }

  ui.record.addEventListener("click", () => (state.recorder ? stopRecording() : startRecording()));

  // The conversation view --------------------------------------------------------------------------------

  function renderUserMessage(text, attachments) {
    const message = element("div", "message user");
    message.append(element("div", "role", "You"));
    if (text) message.append(element("div", "text", text));
    if (attachments.length) {
      const media = element("div", "media");
      for (const attachment of attachments) {
        if (attachment.kind === "image") {
          media.append(thumbnail(attachment.url, attachment.name, (image) => {
            image.replaceWith(element("span", "no-preview", `${attachment.name} (no preview)`));
          }));
        } else {
          const audio = element("audio");
          audio.controls = true;
          audio.src = attachment.playUrl;
          audio.setAttribute("aria-label", attachment.label);
          media.append(audio, audioLabel(attachment));
        }
      }
      message.append(media);
    }
    ui.messages.append(message);
    updateEmptyState();
    scrollToEnd(true);
    return message;
  }

  // One assistant reply as it streams: answer text, reasoning, tool calls with their results, usage, errors.
  class AssistantTurn {
    constructor() {
      this.root = element("div", "message assistant");
      this.root.dataset.state = "streaming";
      this.root.append(element("div", "role", "Rosetta"));
      this.tools = new Map();  // tool call id -> its box
      this.started = performance.now();
      this.segment = null;  // the .answer element the text of the current step streams into
      this.openSegment();
      ui.messages.append(this.root);
      updateEmptyState();
      scrollToEnd(true);
    }

    add(node) {
      this.root.append(node);
      scrollToEnd();
      return node;
    }

    openSegment() {
      this.segment = this.add(element("div", "answer live"));
    }

    // The text of the current step ends: the agent moves on to tools, so what it wrote was reasoning.
    // `text` is the server's version of it (from a "thinking" event), which replaces what streamed.
    closeSegment(text) {
      const segment = this.segment;
      this.segment = null;
      if (!segment) {
        if (text) this.add(element("div", "reasoning", text));
        return;
      }
      if (text !== undefined) segment.textContent = text;
      if (segment.textContent.trim()) {
        segment.className = "reasoning";
      } else {
        segment.remove();
      }
    }

    appendText(text) {
      if (!this.segment) this.openSegment();
      this.segment.append(text);  // a text node: cheap, and never parsed as HTML
      scrollToEnd();
    }

    get answer() {
      return this.segment ? this.segment.textContent.trim() : "";
    }

    agentEvent(event) {
      if (event.type === "thinking") {
        this.closeSegment(event.text || "");
      } else if (event.type === "tool_call") {
        this.closeSegment();
        this.toolBox(event.id, event.name, event.arguments);
      } else if (event.type === "tool_result") {
        this.closeSegment();
        this.toolResult(event);
        this.openSegment();  // the model writes on after the results
      }
      // Other event types (from a newer server) are ignored.
    }

    toolBox(id, name, args) {
      const box = element("div", "tool");
      box.dataset.callId = id || "";
      const call = element("div", "tool-call");
      call.append(icon("wrench"), element("span", "tool-name", name || "tool"));
      if (args !== undefined) {
        call.append(element("code", "tool-args", typeof args === "string" ? args : JSON.stringify(args)));
      }
      box.append(call, element("div", "tool-pending", "running…"));
      this.add(box);
      if (id) this.tools.set(id, box);
      return box;
    }

    toolResult(event) {
      const box = this.tools.get(event.id) || this.toolBox(event.id, event.name);
      box.querySelector(".tool-pending")?.remove();
      const result = element("div", event.is_error ? "tool-result error" : "tool-result");
      result.append(element("span", "tool-result-text", event.text || "(no text)"));
      if (typeof event.seconds === "number") {
        result.append(element("span", "tool-seconds", `${event.seconds.toFixed(2)} s`));
      }
      if (event.images && event.images.length) {
        const media = element("div", "media");
        for (const url of event.images) {
          const image = element("img");
          image.src = url;
          image.alt = `image from ${event.name || "the tool"}`;
          media.append(image);
        }
        result.append(media);
      }
      box.append(result);
      scrollToEnd();
    }

    usage(usage) {
      const seconds = ((performance.now() - this.started) / 1000).toFixed(1);
      const text = `${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens · ${seconds} s`;
      this.add(element("div", "usage", text));
    }

    note(text) {
      this.add(element("div", "stopped-note", text));
    }

    error(text) {
      const box = element("div", "error-message", text);
      box.setAttribute("role", "alert");
      this.add(box);
    }

    finish(outcome) {
      for (const live of this.root.querySelectorAll(".answer.live")) {
        live.classList.remove("live");
        if (!live.textContent.trim()) live.remove();
      }
      for (const pending of this.root.querySelectorAll(".tool-pending")) pending.textContent = "not finished";
      this.root.dataset.state = outcome;
    }
  }

  // Talking to the server ----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function errorFromResponse(response) {
    let message = `${response.status} ${response.statusText}`.trim();
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch {
      // not JSON (a proxy's error page...): the status line will do
    }
    return new ApiError(message, response.status);
  }

  // Stream one completion into `turn`. Returns when the server says [DONE]; throws ApiError on any error.
  async function streamCompletion(messages, turn, signal) {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: apiHeaders(),
      signal,
      body: JSON.stringify({
        model: ui.tools.checked ? "rosetta-agent" : "rosetta",
        messages,
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: maxTokens,
      }),
    });
    if (!response.ok) throw await errorFromResponse(response);

    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      // The server sends one `data: <json>` line per event, events separated by a blank line. A network
      // read may end anywhere, so only whole lines are handled; the rest waits for the next read.
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        if (!line.startsWith("data:")) continue;  // blank separators, ": comments", other SSE fields
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        handleChunk(JSON.parse(data), turn);
      }
    }
    throw new ApiError("the connection closed before the answer was finished");
  }

  function handleChunk(chunk, turn) {
    if (chunk.error) throw new ApiError(chunk.error.message || "the server reported an error");
    const choice = chunk.choices && chunk.choices[0];
    if (!choice) {
      if (chunk.usage) turn.usage(chunk.usage);  // the last chunk: `choices: []` and the token counts
      return;
    }
    const delta = choice.delta || {};
    if (delta.rosetta) turn.agentEvent(delta.rosetta);
    if (delta.content) turn.appendText(delta.content);
    if (choice.finish_reason === "length") turn.note(`(cut short at the limit of ${maxTokens} tokens)`);
  }

  // Sending --------------------------------------------------------------------------------------------------

  function userContent(text, attachments) {
    if (!attachments.length) return text;
    const parts = text ? [{ type: "text", text }] : [];
    for (const attachment of attachments) {
      if (attachment.kind === "image") {
        parts.push({ type: "image_url", image_url: { url: attachment.url } });
      } else {
        parts.push({ type: "input_audio", input_audio: { data: attachment.data, format: attachment.format } });
      }
    }
    return parts;
  }

  function setBusy(busy) {
    const stopHadFocus = document.activeElement === ui.stop;
    ui.send.disabled = busy;
    ui.stop.hidden = !busy;
    ui.messages.setAttribute("aria-busy", String(busy));
    if (stopHadFocus && !busy) ui.prompt.focus();  // the Stop button disappears: keep the keyboard somewhere useful
  }

  // Put a failed turn's text and attachments back in the composer, so nothing typed or attached is lost.
  function restoreComposer(text, attachments) {
    if (!ui.prompt.value.trim()) ui.prompt.value = text;
    state.pending = attachments.concat(state.pending);
    renderAttachments();
    autosize();
    ui.prompt.focus();
  }

  async function send() {
    if (state.controller) return;  // one request at a time
    if (state.recorder) await stopRecording();  // Send while recording: the recording goes with the message
    const text = ui.prompt.value.trim();
    const attachments = state.pending.slice();
    if (!text && !attachments.length) return;

    const userMessage = { role: "user", content: userContent(text, attachments) };
    ui.prompt.value = "";
    state.pending = [];
    renderAttachments();
    autosize();
    showNotice("");

    const chat = state.chat;
    const userView = renderUserMessage(text, attachments);
    const turn = new AssistantTurn();
    const controller = new AbortController();
    state.controller = controller;
    setBusy(true);
    let failure = null;
    try {
      await streamCompletion([...state.history, userMessage], turn, controller.signal);
    } catch (error) {
      failure = error;
    } finally {
      state.controller = null;
      setBusy(false);
    }
    if (chat !== state.chat) return;  // "New chat" was pressed meanwhile: that conversation is gone

    const stopped = controller.signal.aborted;
    if (!failure) {
      turn.finish("done");
    } else if (stopped) {
      turn.note("Stopped.");
      turn.finish("stopped");
    } else {
      turn.error(failure.message || String(failure));
      turn.finish("error");
      if (failure.status === 401) {
        ui.apiKeyField.hidden = false;
        ui.apiKey.focus();
      }
    }

    const answer = turn.answer;
    if ((!failure || stopped) && answer) {
      // A finished (or stopped but partial) answer joins the history; an empty one would give the model an
      // empty assistant turn, so a turn without words is shown but not sent again.
      state.history.push(userMessage, { role: "assistant", content: answer });
    } else if (failure) {
      userView.classList.add("failed");
      restoreComposer(text, attachments);
    }
  }

  function newChat() {
    state.chat += 1;
    if (state.controller) state.controller.abort();
    state.history = [];
    ui.messages.replaceChildren();
    updateEmptyState();
    showNotice("");
    ui.prompt.focus();
  }

  function autosize() {
    ui.prompt.style.height = "auto";
    ui.prompt.style.height = `${ui.prompt.scrollHeight + 2}px`;  // CSS caps it at max-height
  }

  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });

  ui.prompt.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; Enter that confirms an input method's composition is neither.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  ui.prompt.addEventListener("input", autosize);

  ui.stop.addEventListener("click", () => state.controller && state.controller.abort());
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.controller) state.controller.abort();
  });
  ui.newChat.addEventListener("click", newChat);

  ui.apiKeyField.addEventListener("submit", (event) => {  // Enter in the key field: on to the message
    event.preventDefault();
    ui.prompt.focus();
  });
  ui.apiKey.value = sessionStorage.getItem(KEY_STORAGE) || "";
  ui.apiKey.addEventListener("input", () => sessionStorage.setItem(KEY_STORAGE, ui.apiKey.value.trim()));

  // What the server is, and whether it wants an API key.
  async function checkHealth() {
    try {
      const response = await fetch("/health");
      const health = await response.json();
      ui.modelName.textContent = health.model || "";
      if (health.auth) ui.apiKeyField.hidden = false;
    } catch {
      ui.modelName.textContent = "server not reachable";
    }
  }

  updateEmptyState();
  checkHealth();
  ui.prompt.focus();
})();
