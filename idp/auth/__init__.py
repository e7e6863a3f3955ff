"""How people prove who they are: the e-CPS push approval (and, later, the CPS card)."""
