// YAML highlighting for `%%workflow` cells in JupyterLab 4 and Notebook 7.
//
// A notebook gives every code cell the kernel's language (text/x-ipython), so the YAML of a
// workflow cell is coloured as Python (`class`, `in`, `for` as keywords, an apostrophe opening
// a string). This plugin registers a YAML language built on @codemirror/lang-yaml (a Lezer
// grammar: an apostrophe inside a plain scalar stays text, unlike CodeMirror's legacy YAML mode
// that JupyterLab ships) and gives it to every cell whose first line starts with `%%workflow`;
// the cell gets the notebook's own mimetype back when the magic line goes. The notebook resets
// mimetypes when the kernel's language arrives and when cells are created, so the plugin listens
// to each cell's mimeTypeChanged and source changes and applies its choice again. All of it is
// bundled in the extension: nothing is fetched at run time.
import { INotebookTracker } from '@jupyterlab/notebook';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { yaml } from '@codemirror/lang-yaml';

const MAGIC = /^\s*%%workflow\b/;
const MIME = 'text/x-nbworkflow-yaml';

function watchCell(model, notebookMime) {
  if (model.type !== 'code' || model.__nbwWatched) {
    return;
  }
  model.__nbwWatched = true;
  const apply = () => {
    const mime = MAGIC.test(model.sharedModel.getSource()) ? MIME : notebookMime();
    if (model.mimeType !== mime) {
      model.mimeType = mime;
    }
  };
  model.mimeTypeChanged.connect(apply);
  model.sharedModel.changed.connect(apply);
  apply();
}

function watchNotebook(panel) {
  const notebook = panel.content;
  // The notebook's own mimetype for code cells (ipython once the kernel is known).
  const notebookMime = () => notebook.codeMimetype || 'text/x-ipython';
  const watchAll = () => {
    const cells = notebook.model ? notebook.model.cells : null;
    if (!cells) {
      return;
    }
    for (let i = 0; i < cells.length; i++) {
      watchCell(cells.get(i), notebookMime);
    }
  };
  notebook.modelContentChanged.connect(watchAll);
  notebook.modelChanged.connect(watchAll);
  watchAll();
}

const plugin = {
  id: 'nbworkflow-yaml:plugin',
  description: 'YAML highlighting for %%workflow cells',
  autoStart: true,
  requires: [INotebookTracker, IEditorLanguageRegistry],
  activate: (app, tracker, languages) => {
    languages.addLanguage({ name: 'nbworkflow YAML', mime: MIME, support: yaml() });
    tracker.forEach(watchNotebook);
    tracker.widgetAdded.connect((_, panel) => watchNotebook(panel));
  }
};

export default plugin;
