"""The live city dashboard (Streamlit): data access in ``lake``/``feeds``/``history``/``orchestration``,
drawing in ``render``, the page in ``app``. Started by ``smartcity dashboard``."""
