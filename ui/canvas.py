"""The Draw page's canvas keeps only the tools that serve drawing a digit.

streamlit-drawable-canvas 0.13 shows a toolbar over the canvas on hover: Undo, Redo and Reset
help; two more do not. "Edit" selects and moves strokes, so drawing silently stops until it is
toggled off again, and the upload arrow ("Update the app with this drawing") only resends a
drawing this page already follows stroke by stroke. The component has no option to hide them
and draws inside its own (open) shadow root, which the page's CSS does not reach, so a small
script puts a style into every canvas's shadow root as it appears.
"""

from __future__ import annotations

import streamlit as st

HIDDEN = ('.dc-icon-button[aria-label="Edit"]',
          '.dc-icon-button[aria-label="Update the app with this drawing"]',
          ".dc-toolbar-separator", ".dc-toolbar-contextual")

_SCRIPT = """<script>
(function () {
  if (window.__mnistCanvasTools) return;  // once per browser tab
  window.__mnistCanvasTools = true;
  const css = '%s { display: none !important; }';
  const patch = () => {
    for (const host of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
      const root = host.shadowRoot;
      if (root && root.querySelector('.dc-toolbar') && !root.querySelector('style[data-mnist]')) {
        const style = document.createElement('style');
        style.setAttribute('data-mnist', 'canvas-tools');
        style.textContent = css;
        root.appendChild(style);
      }
    }
  };
  patch();
  setInterval(patch, 200);  // a new canvas (Clear makes one) gets the style within 0.2 s
})();
</script>""" % ", ".join(HIDDEN)

TOOLS_NOTE = ("Hover the canvas for **Undo**, **Redo** and **Reset** (the bin); **Clear** "
              "starts a fresh canvas.")


def only_drawing_tools() -> None:
    """Hide the canvas toolbar's Edit toggle and upload arrow (call once on the page)."""
    st.html(_SCRIPT, unsafe_allow_javascript=True)
