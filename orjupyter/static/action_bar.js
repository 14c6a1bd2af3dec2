// The bar under a finished answer: a follow-up box, Ask, Regenerate, Copy, Copy code and
// Insert as cell. One widget model per answer; hidden while an answer streams (`busy`).
//
// Sent to the browser once per page by static/loader.js (with actions.css, every rule
// scoped under .orj-actions). Ask, Regenerate and Copy are messages to the kernel, which
// holds the conversation; Copy's text comes back as {copy}. Copy code and Insert as cell
// work in the browser, from `code`, with no round trip to the kernel.
//
// Insert as cell: JupyterLab and Notebook 7 give a widget the notebook it lives in (its
// widget manager's document context); the new cell is added to that notebook's model,
// exactly as JupyterLab's own "insert below" does. Frontends without that context (VS
// Code, nbconvert HTML) hide the button: Copy code still works there.

const WIDGET_VIEW = "application/vnd.jupyter.widget-view+json";

/** The notebook model the widget lives in, or null where the frontend gives none. */
function notebookOf(model) {
  const context = model.widget_manager && model.widget_manager.context;
  const notebook = context && context.model;
  return notebook && notebook.sharedModel && notebook.cells ? notebook : null;
}

/** Index of the cell showing the widget `anchor` (this bar), else -1. */
function cellShowing(notebook, anchor) {
  for (let i = 0; i < notebook.cells.length; i++) {
    const cell = notebook.cells.get(i);
    const outputs = cell.type === "code" ? cell.outputs : null;
    for (let j = 0; outputs && j < outputs.length; j++) {
      const view = outputs.get(j).data[WIDGET_VIEW];
      if (view && view.model_id === anchor) return i;
    }
  }
  return -1;
}

/** A new code cell below cell `index` (at the end when the cell is not found). */
function insertBelow(notebook, index, source) {
  const at = index < 0 ? notebook.cells.length : index + 1;
  notebook.sharedModel.insertCell(at, { cell_type: "code", source, metadata: {} });
  return at;
}

function reveal(el, at) {
  const page = el.closest(".jp-Notebook");
  const cell = page && page.querySelector('[data-windowed-list-index="' + at + '"]');
  if (cell) cell.scrollIntoView({ block: "nearest" });
}

function button(el, label, tooltip, action) {
  const made = document.createElement("button");
  made.className = "jupyter-button widget-button";
  made.textContent = label;
  made.title = tooltip;
  made.addEventListener("click", action);
  el.appendChild(made);
  return made;
}

/** Shows `done` on a button for a moment, then its label again. */
function confirm(made, done) {
  const label = made.textContent;
  made.textContent = done;
  setTimeout(() => (made.textContent = label), 1500);
}

function initialize({ model }) {
  return {
    heard(msg) {
      if (typeof msg.copy === "string") navigator.clipboard.writeText(msg.copy);
    },
    cleanup() {},
  };
}

function render({ model, el }) {
  el.classList.add("orj-actions");
  const box = document.createElement("div");
  box.className = "widget-inline-hbox widget-text";
  const input = document.createElement("input");
  input.type = "text";
  input.placeholder = "Ask a follow-up…";
  box.appendChild(input);
  el.appendChild(box);
  const ask = () => {
    const text = input.value.trim();
    if (!text || model.get("busy") !== false) return;
    input.value = "";
    model.send({ event: "ask", text });
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") ask();
  });
  button(el, "Ask", "Ask the follow-up in this conversation", ask);
  button(el, "Regenerate", "Ask the last question again", () => {
    if (model.get("busy") === false) model.send({ event: "regenerate" });
  });
  button(el, "Copy", "Copy the last answer's Markdown", () => model.send({ event: "copy" }));
  const copyCode = button(el, "Copy code", "Copy the last answer's (first Python) code block", () => {
    navigator.clipboard.writeText(model.get("code"));
  });
  const notebook = notebookOf(model);
  const insert = button(el, "Insert as cell", "Add the answer's code as a new code cell below this one", () => {
    const code = model.get("code");
    if (!notebook || !code) return;
    const at = insertBelow(notebook, cellShowing(notebook, model.get("anchor")), code);
    requestAnimationFrame(() => reveal(el, at));
    confirm(insert, "Inserted ✓");
  });
  const show = () => {
    const code = Boolean(model.get("code"));
    el.classList.toggle("orj-hidden", model.get("busy") !== false);
    copyCode.hidden = !code;
    insert.hidden = !code || notebook === null;
  };
  show();
  model.on("change:busy", show);
  model.on("change:code", show);
  return () => {
    model.off("change:busy", show);
    model.off("change:code", show);
  };
}

export default { initialize, render };
