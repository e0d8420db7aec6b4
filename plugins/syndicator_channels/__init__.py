"""First-party channel plugins. Each module registers one channel through the
``syndicator`` entry-point group, exactly as a third-party plugin would."""
