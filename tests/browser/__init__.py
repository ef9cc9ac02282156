"""Run a chapter the way a learner does: JupyterLab 4 in a headless Chromium, driven by Playwright.

    jupyterlab.serve(root, home)   start a throw-away JupyterLab on 127.0.0.1, stop it afterwards
    cdn.local_copies(cache)        the cdnjs files bertviz asks for, fetched once with `npm pack`
    learner.run_notebook(...)      open, Restart & Run All, check, drag sliders, take screenshots

Imported as `from browser import ...`: pytest's default import mode puts tests/ on sys.path.
"""
