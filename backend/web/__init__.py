"""The browser front end: static files (no build step) that talk to the API and to the user's
own wallet (EIP-1193: `window.ethereum`). Keys never leave the wallet."""
