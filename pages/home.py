"""Home: what MNIST Lab is for, where to start, a link to every page."""

import streamlit as st

from ui import cache, data, session, sidebar, widgets

st.title("MNIST Lab")
st.markdown(
    "Learn how a neural network works by **building, training and poking one**. The network "
    "here is written from scratch in NumPy (no deep-learning library): every weight, gradient "
    "and optimizer step is code you can read in `mnist/`. It learns to read handwritten digits "
    "from MNIST: 60,000 training and 10,000 test images of 28x28 pixels."
)

n_train, n_test = data.data_sizes()
entry = session.current()
c1, c2, c3 = st.columns(3)
c1.metric("Training digits", f"{n_train:,}", help="Digits the network learns from.")
c2.metric("Test digits", f"{n_test:,}",
          help="Digits kept aside to measure how well a trained network does on new data.")
label, acc = (sidebar.test_accuracy(entry, "Current model's test accuracy")
              if entry is not None else ("Current model", None))
if acc is not None:
    c3.metric(label, f"{acc:.2%}",
              help=f"Share of the test digits that {entry.name} ({entry.architecture}) "
                   "classifies correctly; it never trained on them.")
else:
    c3.metric("Current model", "none yet", help=cache.default_model_problem())

st.subheader("Start here")
STEPS = [
    ("pages/dataset.py", "1. Look at the data",
     "Browse the digits, see one up close as 784 numbers, check how the classes are spread."),
    ("pages/train.py", "2. Train a small net",
     "Press **Start training** with the first preset (784-32-10 on 5,000 digits, a few "
     "seconds): watch the loss fall and the accuracy rise, live. Then try the tutorials' "
     "presets, or your own settings; stop whenever you like."),
    ("pages/search.py", "3. Compare learning rates",
     "Train the same net from the same starting weights with lr 0.001, 0.01, 0.1 and 1: "
     "too small crawls, too large blows up."),
    ("pages/mistakes.py", "4. See what it gets wrong",
     "The test digits your model misclassifies, most confident first."),
    ("pages/draw.py", "5. Draw a digit",
     "Write a digit with the mouse and see the network's ten probabilities."),
    ("pages/inside.py", "6. Look inside",
     "What each layer computes, what the first-layer weights look like."),
]
for path, title, text in STEPS:
    with st.container(border=True):
        widgets.page_link(path, title, ":material/arrow_forward:")
        st.caption(text)

st.subheader("How the pieces fit")
st.markdown(
    "- Each image becomes a row of 784 numbers in [0, 1]. The network multiplies it by a "
    "weight matrix, adds a bias, bends it with an activation (ReLU, sigmoid ...), and repeats; "
    "the last layer gives 10 scores, and softmax turns them into probabilities.\n"
    "- Training shows it a batch of digits, measures how wrong it is (the loss), computes how "
    "each weight changed that (backpropagation) and nudges every weight downhill "
    "(the optimizer, at the learning rate's step size).\n"
    "- Everything you train lives in your browser session only: download what you want to keep."
)

cache.warm_up()  # load MNIST in the background: the Dataset and Train pages then open at once
