"""Every trigger of DESIGN §4, one module a category; `registry` says what a trigger is."""
