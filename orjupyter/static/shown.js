// Tells the kernel that a front end drew this output: a front end that draws widgets
// (JupyterLab, Notebook 7, VS Code) runs `render` and the kernel hears "shown"; one that
// does not (jupyter console, nbconvert) never runs it, and the kernel asks another way.

function render({ model }) {
  model.send({ event: "shown" });
}

export default { render };
