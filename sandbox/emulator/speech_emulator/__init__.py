"""Emulator of Microsoft's Azure AI Speech containers, for the speechops.speech sandbox.

See sandbox/emulator/README.md. Entry points:
    python3 -m speech_emulator [Key=Value ...]          one container (kind from EMULATOR_KIND)
    python3 -m speech_emulator.billing_stub [options]   the billing endpoint stand-in
"""
