"""The shipped configuration files, installed as the package ``raydynamo.configs``.

``pyproject.toml`` maps this directory to that package (``package-dir``) and ships its
``*.yaml`` files as package data; ``raydynamo.config`` reads them with ``importlib.resources``,
so they are found the same way in a regular install, an editable one and a source checkout.
Nothing to import here.
"""
