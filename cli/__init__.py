"""The ``hltk`` command line (installed as the ``hltk_cli`` package). Thin: parses options,
calls one ``hltk.pipelines`` function, prints.

The command's entry point (``hltk_cli.app:main``, and ``python -m hltk_cli``) imports this
package first, so the process-wide CPU settings are applied here, before any module of the
command loads torch (libgomp reads ``OMP_WAIT_POLICY`` when torch loads it): the library itself
changes nothing on import (see :mod:`hltk.runtime`).
"""

from hltk.runtime import configure_process

configure_process()
