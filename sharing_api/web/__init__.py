"""The browser apps: the patient wallet and the regulator console.

Sources live in ``apps/<name>/`` (``main.js`` plus static files); ``scripts/build_web.mjs``
bundles them with esbuild into ``dist/<name>/``, which the API serves at ``/<name>/``.
"""
