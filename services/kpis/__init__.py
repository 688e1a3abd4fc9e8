"""Business KPIs: the value of each outcome and the label-free performance estimate."""
