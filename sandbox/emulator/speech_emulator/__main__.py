# `python3 -m speech_emulator`: a Speech container, or the diagnostics container when EMULATOR_KIND=diagnostic.
import os
import sys

if os.environ.get("EMULATOR_KIND") == "diagnostic":
    from .diagnostic import main
else:
    from .app import main

sys.exit(main())
