// The live panel of one answer: the answer as the kernel appends it, the status line,
// Stop, and the conversation above it for a follow-up. One widget model per answer.
//
// Sent to the browser once per page by static/loader.js (with answer.css and panel.css,
// every rule scoped under .orj-*), which hands it each model's messages in order.
//
// The kernel sends one message per refresh (orjupyter/render/live.py, `Delta`):
//   text    characters appended to the open block, shown as text (never parsed as HTML)
//   cut     how many characters (code points) at the open block's start are now finished
//   html    those characters as HTML that the kernel rendered and sanitised (nh3)
//   seal    or: they are one plain paragraph, shown as the text the browser already has
//   joined  the finished part ends inside a paragraph that goes on in the open block
//   code    the open block is (or no longer is) inside a fenced code block
//   think   characters appended to the reasoning (text), `title` its heading
//   status  the status line's new text
//   stop    Stop's new label: the answer ended (a comparison's column that is done)
// Messages are handled in `initialize`, before any view is drawn, so a view drawn late
// (or a second view of the same output) shows it all.

const ANSWERS = new Map();

/** The answer a model holds (one per widget: its `key`), with the views drawing it. */
function answerOf(model) {
  const key = model.get("key");
  let answer = ANSWERS.get(key);
  if (!answer) {
    answer = {
      finished: [], open: "", code: false, thought: "", title: "",
      status: model.get("status") || "", stop: "", views: new Set(),
    };
    ANSWERS.set(key, answer);
  }
  return answer;
}

function trim(text) {
  return text.replace(/^[ \n]+|[ \n]+$/g, "");
}

/** A finished part as an element: kernel-sanitised HTML, or a paragraph of text. */
function finishedElement(part) {
  const box = document.createElement("div");
  box.className = part.joined ? "orj-block orj-cut" : "orj-block";
  if (part.html !== undefined) {
    box.innerHTML = part.html; // rendered and sanitised in the kernel (nh3)
  } else {
    const paragraph = document.createElement("p");
    paragraph.textContent = part.text;
    box.appendChild(paragraph);
  }
  return box;
}

function apply(answer, msg) {
  if (typeof msg.think === "string") answer.thought += msg.think;
  if (typeof msg.title === "string") answer.title = msg.title;
  if (typeof msg.text === "string") answer.open += msg.text;
  if (typeof msg.code === "boolean") answer.code = msg.code;
  if (typeof msg.status === "string") answer.status = msg.status;
  if (typeof msg.stop === "string") answer.stop = msg.stop;
  let part = null;
  if (typeof msg.cut === "number" && msg.cut > 0) {
    const characters = Array.from(answer.open);
    const done = characters.slice(0, msg.cut).join("");
    answer.open = characters.slice(msg.cut).join("");
    part = { joined: Boolean(msg.joined) };
    if (typeof msg.html === "string") part.html = msg.html;
    else part.text = trim(done);
    answer.finished.push(part);
  }
  for (const view of answer.views) view.update(msg, part);
}

function element(tag, className, parent) {
  const made = document.createElement(tag);
  made.className = className;
  parent.appendChild(made);
  return made;
}

/** The footer: Stop (its click goes to the kernel, which stops the answer) and the status. */
function footer(model, answer, el) {
  const row = element("div", "orj-footer", el);
  const stop = element("button", "jupyter-button widget-button orj-stop", row);
  stop.title = "Stop this answer (keeps what arrived)";
  const status = element("span", "orj-status", row);
  const show = () => {
    stop.textContent = answer.stop || "Stop";
    stop.disabled = Boolean(answer.stop);
    status.textContent = answer.status;
  };
  stop.addEventListener("click", () => {
    answer.stop = "Stopping…";
    model.send({ event: "stop" });
    for (const view of answer.views) view.update({ stop: answer.stop }, null);
  });
  show();
  return show;
}

/** One view: heading (a comparison's column), conversation, reasoning, answer, footer. */
function draw(model, answer, el) {
  el.classList.add("orj-panel", "tex2jax_ignore", "mathjax_ignore");
  const heading = model.get("heading");
  if (heading) {
    el.classList.add("orj-column");
    element("div", "orj-model", el).textContent = heading;
  }
  const transcript = model.get("transcript");
  if (transcript) element("div", "orj-transcript", el).innerHTML = transcript; // sanitised in the kernel
  const live = element("div", "orj-live", el);
  let thinking = null;
  let thoughtText = null;
  let summary = null;
  const body = element("div", "orj-answer jp-RenderedHTMLCommon", live);
  const open = element("div", "orj-open", body);
  const showFooter = footer(model, answer, el);

  const showThinking = (more) => {
    if (!answer.thought && !answer.title) return;
    if (thinking === null) {
      thinking = document.createElement("details");
      thinking.className = "orj-thinking";
      summary = document.createElement("summary");
      thoughtText = document.createElement("div");
      thoughtText.className = "orj-thinking-text";
      thoughtText.textContent = answer.thought;
      thinking.append(summary, thoughtText);
      live.insertBefore(thinking, body);
    } else if (more) {
      thoughtText.append(more); // a text node: the reasoning is never parsed as HTML
    }
    summary.textContent = answer.title || "Thinking";
  };
  for (const part of answer.finished) body.insertBefore(finishedElement(part), open);
  open.textContent = answer.open;
  open.classList.toggle("orj-open-code", answer.code);
  showThinking("");

  return {
    update(msg, part) {
      if (part !== null) body.insertBefore(finishedElement(part), open);
      if (part !== null || typeof msg.text === "string") open.textContent = answer.open;
      if (typeof msg.code === "boolean") open.classList.toggle("orj-open-code", answer.code);
      if (typeof msg.think === "string" || typeof msg.title === "string") {
        showThinking(msg.think || "");
      }
      if (typeof msg.status === "string" || typeof msg.stop === "string") showFooter();
    },
  };
}

function initialize({ model }) {
  const answer = answerOf(model);
  return {
    heard: (msg) => apply(answer, msg),
    cleanup: () => ANSWERS.delete(model.get("key")),
  };
}

function render({ model, el }) {
  const answer = answerOf(model);
  const view = draw(model, answer, el);
  answer.views.add(view);
  return () => answer.views.delete(view);
}

export default { initialize, render };
