"""The command line: `python -m mnist train | evaluate | predict | info | search`.

    main.py    the parser, `main()` (one-line errors, exit codes), evaluate / predict / info
    train.py   train: flags, a JSON config or a preset -> a trained, scored, saved model
    search.py  search: grids, random search, presets, halving; and the LR range test
    common.py  what they share: exit codes, the default model, output helpers

The one part of the package that prints: results to stdout (text, or JSON lines whose last line
carries the final figures), progress and errors to stderr.
"""
