"""The HTML workspace: thin views over the selectors, forms and services."""
