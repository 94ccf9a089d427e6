"""说明: set our 报送说明 (explanation) for an indicator."""

from bot import rules, texts
from bot.commands import Context, IndicatorParam, TextParam, command
from bot.messages import Reply


@command(
    "说明",
    IndicatorParam(),
    TextParam("text", missing="请写上说明内容，例如：说明 12 我局2019年以来开展双随机抽查36次……"),
    preload="one",
)
def explain(ctx: Context, ind, text: str) -> Reply:
    """说明 <编号> <文字>：填写或修改本部门该项的报送材料说明"""
    a, raw = ctx.own(ind)
    edit = rules.explain(a, ind, text, by=ctx.actor, at=ctx.now_iso())
    ctx.apply(a, raw, edit)
    after = edit.after
    verb = "已更新" if a.explanation else "已保存"
    secret = "本项涉密：说明只在系统内可见，资料目录和报送邮件中写作「涉密，现场查阅」。"
    return Reply(
        f"{verb}第{ind.id}项的报送说明（{len(text)} 字），当前状态：{after.status.label}。"
        f"{secret if ind.is_secret else ''}{texts.review_again(a, after)}"
    )
