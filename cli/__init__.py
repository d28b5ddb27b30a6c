"""The ``hltk`` command line (installed as the ``hltk_cli`` package). Thin: parses options,
calls one ``hltk.pipelines`` function, prints."""
