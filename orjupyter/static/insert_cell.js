// "Insert as cell": put the answer's code into a new code cell right below the answer.
//
// Runs in the browser as an anywidget module. JupyterLab and Notebook 7 give a widget
// the notebook it lives in (its widget manager's document context); the new cell is
// added to that notebook's model, exactly as JupyterLab's own "insert below" does.
// Frontends without that context (VS Code, nbconvert HTML) hide the button: the bar's
// "Copy code" still works there.

const WIDGET_VIEW = "application/vnd.jupyter.widget-view+json";

/** The notebook model the widget lives in, or null where the frontend gives none. */
function notebookOf(model) {
  const context = model.widget_manager && model.widget_manager.context;
  const notebook = context && context.model;
  return notebook && notebook.sharedModel && notebook.cells ? notebook : null;
}

/** Index of the cell showing the widget `anchor` (the action bar), else -1. */
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

function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-button widget-button orj-insert";
  button.textContent = model.get("description");
  button.title = "Add the answer's code as a new code cell below this one";
  el.classList.add("orj-insert-host");
  el.appendChild(button);

  const notebook = notebookOf(model);
  const show = () => {
    const usable = notebook !== null && Boolean(model.get("code"));
    button.style.display = usable ? "" : "none";
  };
  show();
  model.on("change:code", show);

  let restore = null;
  button.addEventListener("click", () => {
    const code = model.get("code");
    if (!notebook || !code) return;
    const at = insertBelow(notebook, cellShowing(notebook, model.get("anchor")), code);
    requestAnimationFrame(() => reveal(el, at));
    button.textContent = "Inserted ✓";
    clearTimeout(restore);
    restore = setTimeout(() => {
      button.textContent = model.get("description");
    }, 1500);
  });
  return () => {
    clearTimeout(restore);
    model.off("change:code", show);
  };
}

export default { render };
