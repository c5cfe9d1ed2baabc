"""The web dashboard: server-rendered pages, SVG charts, a few lines of polling JavaScript."""
