"""The opsdash domain layer: everything but the UI. Never imports streamlit."""
