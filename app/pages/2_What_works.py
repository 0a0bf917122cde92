"""What works page (being built)."""

import streamlit as st

from app.common import page

page("What works", "✅")
st.title("What works")
