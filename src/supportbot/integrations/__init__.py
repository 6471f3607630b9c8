"""Optional bridges between supportbot and other chatbot frameworks.

Nothing here is imported by the rest of supportbot. `supportbot.integrations.rasa` holds rasa-sdk
actions (install with `pip install "supportbot[rasa]"`); see docs/rasa.md.
"""
