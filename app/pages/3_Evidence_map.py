"""Evidence map page (being built)."""

import streamlit as st

from app.common import page

page("Evidence map", "🗺️")
st.title("Evidence map")
