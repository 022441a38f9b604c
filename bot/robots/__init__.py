"""Group robots: one-way webhooks into work groups on DingTalk, WeCom and Feishu."""
