// What each model of an orjupyter widget carries: a loader of the widget's module, which
// the kernel sends once per page (with its stylesheet), not once per answer.
//
// Runs in the browser as an anywidget module (an ES module: no AMD define/require, so it
// loads the same way in JupyterLab, Notebook 7 and VS Code). The first model of its kind
// in a page asks its kernel for the module ({event: "module"}); the reply ({module, css})
// is imported like anywidget imports a module, and its stylesheet, scoped under .orj-*,
// is added to the page once. Messages that arrive before the module are kept and replayed
// in order. KEY names this version of the module, so a page never runs an older one.

const KEY = "orjupyter:__KEY__";
const page = (globalThis[KEY] ||= { got: false });
page.ready ||= new Promise((done) => (page.done = done));

/** Adds the stylesheet, imports the module (as anywidget imports one) and hands it out. */
async function receive({ module, css }) {
  page.got = true;
  const style = document.head.appendChild(document.createElement("style"));
  style.textContent = css;
  const url = URL.createObjectURL(new Blob([module], { type: "text/javascript" }));
  try {
    page.done((await import(url)).default);
  } catch (error) {
    // the next model asks again
    page.got = false;
    style.remove();
    console.error(error);
  }
  URL.revokeObjectURL(url);
}

function initialize({ model }) {
  const queued = [];
  let on = (msg) => queued.push(msg);
  let gone = false;
  let cleanup = null;
  const heard = (msg) => (msg.module ? page.got || receive(msg) : on(msg));
  model.on("msg:custom", heard);
  // "module" says the model is loaded too: the kernel may close it without breaking the page
  model.send({ event: page.got ? "loaded" : "module" });
  page.ready.then((widget) => {
    if (gone) return;
    ({ heard: on, cleanup } = widget.initialize({ model }));
    queued.forEach(on);
  });
  return () => {
    gone = true;
    model.off("msg:custom", heard);
    cleanup?.();
  };
}

function render({ model, el }) {
  let cleanup = null;
  page.ready.then((widget) => (cleanup ??= widget.render({ model, el })));
  return () => (cleanup ??= () => {})();
}

export default { initialize, render };
