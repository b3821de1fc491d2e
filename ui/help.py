"""The sidebar's Help: a few lines for every page (by its title in app.py's PAGES), then what
holds on every page. Kept here as plain markdown, one entry per page, so a new page adds its
help by adding an entry (a test checks that every page has one).
"""

from __future__ import annotations

HELP = {
    "Home": """**Start here: what MNIST Lab is for.**
- Follow the six steps in order, or open any page from this sidebar.
- The network and its training are plain NumPy code in `mnist/`: read along.""",

    "Dataset": """**Look at the digits the network learns from.**
- **Click a digit** in the grid to see it up close; *Show its 784 numbers* writes its
  pixel values (0-255), the network's inputs.
- *Show: by class* gives ten of each digit; *New sample* draws others.
- **Upload your own data** (a CSV, an NPZ or an IDX pair): each new upload replaces the data
  in use, for you only; *Back to MNIST* undoes it.
- The split sets how much of the training data is held out to validate on.""",

    "Train": """**Build a network and watch it learn.**
- Pick a preset (it fills the form) or set the layers and the learning rate yourself, then
  **Start training**: the curves update live; **Stop** keeps the weights so far.
- Training runs in the background: other pages stay usable meanwhile.
- *Step by step* trains one minibatch per click, to see a single update.
- Every run becomes a model in the picker above; download the ones to keep.""",

    "Search": """**Compare settings fairly, side by side.**
- Choose what to vary (say four learning rates); the runs start from the same weights and see
  the same minibatches, so the curves differ only by that setting.
- Runs take turns in worker processes shared by every user of the server.
- The learning-rate range test suggests a range to search.""",

    "Mistakes": """**The test digits the current model gets wrong.**
- **Click a cell** of the confusion matrix (true class = row, predicted = column) to see only
  those mistakes; *Show all mistakes* clears it.
- Click a digit in the gallery for its ten probabilities, below it.
- With two models, *Compare two models* shows what the second fixed and what it broke.""",

    "Draw": """**Write a digit and see what the network reads.**
- Draw on the black canvas with the mouse or a finger: the prediction follows every stroke.
  Hover it for Undo, Redo and Reset; **Clear** starts again.
- Open the expanders to see how the drawing becomes 28x28 and which pixels mattered.
- Wrong guess? Give the right answer, **Add to my digits**, then **Fine-tune on them**: the
  score counts only digits the new model did not train on.""",

    "Inside the network": """**What the network computes, layer by layer.**
- The first-layer tiles show what each hidden unit looks for (red: ink there excites it).
- Pick a test digit (or your drawing from the Draw page) and follow it through every layer
  to the ten output probabilities; hover the strips for the numbers.""",
}

EVERY_PAGE = """- The model chosen above is used by every page.
- Your models and data live in this browser session only: download what you want to keep
  (Train page)."""


def page_help(title: str | None) -> str:
    """The help for the page titled `title` (a page without an entry gets the general part
    only), then what holds on every page."""
    return f"{HELP[title]}\n\n{EVERY_PAGE}" if title in HELP else EVERY_PAGE
