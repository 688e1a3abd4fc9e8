"""UI layer shared by pages: cached resources and data, components, chart builders, theme."""
