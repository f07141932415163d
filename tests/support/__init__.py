"""What the tests share: photo makers, local servers speaking the real protocols, tiny models, a browser."""
