// The live answer of one cell: the kernel appends, the browser shows.
//
// Runs in the browser as an anywidget module (an ES module: no AMD define/require, so it
// loads the same way in JupyterLab, Notebook 7 and VS Code). Its styles are answer.css's,
// every rule scoped under .orj-*: this module adds no stylesheet of its own.
//
// The kernel sends one message per refresh (orjupyter/render/live.py, `Delta`):
//   text    characters appended to the open block, shown as text (never parsed as HTML)
//   cut     how many characters (code points) at the open block's start are now finished
//   html    those characters as HTML that the kernel rendered and sanitised (nh3)
//   seal    or: they are one plain paragraph, shown as the text the browser already has
//   joined  the finished part ends inside a paragraph that goes on in the open block
//   code    the open block is (or no longer is) inside a fenced code block
//   think   characters appended to the reasoning (text), `title` its heading
// Messages are handled in `initialize`, which anywidget runs before the model gets any
// message, so a view drawn late (or a second view of the same output) shows it all.

const ANSWERS = new Map();

/** The answer a model holds (one per widget: its `key`), with the views drawing it. */
function answerOf(model) {
  const key = model.get("key");
  let answer = ANSWERS.get(key);
  if (!answer) {
    answer = { finished: [], open: "", code: false, thought: "", title: "", views: new Set() };
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

/** One view of the answer: the reasoning (collapsed), the finished blocks, the open one. */
function draw(answer, el) {
  el.classList.add("orj-live");
  let thinking = null;
  let thoughtText = null;
  let summary = null;
  const body = document.createElement("div");
  body.className = "orj-answer jp-RenderedHTMLCommon";
  const open = document.createElement("div");
  open.className = "orj-open";
  body.appendChild(open);
  el.appendChild(body);

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
      el.insertBefore(thinking, body);
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
    },
  };
}

function initialize({ model }) {
  const answer = answerOf(model);
  const onMessage = (msg) => apply(answer, msg);
  model.on("msg:custom", onMessage);
  model.send({ event: "loaded" }); // the kernel may close the model now without breaking the page
  return () => {
    model.off("msg:custom", onMessage);
    ANSWERS.delete(model.get("key"));
  };
}

function render({ model, el }) {
  const answer = answerOf(model);
  const view = draw(answer, el);
  answer.views.add(view);
  return () => answer.views.delete(view);
}

export default { initialize, render };
